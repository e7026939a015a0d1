package fivenines.vm.qemu;

/** How the guest sees a disk. */
public enum DiskBus {
    /** virtio-blk-pci: /dev/vdX, the fast default. */
    VIRTIO,
    /** Emulated IDE: for guests without virtio drivers. */
    IDE
}
