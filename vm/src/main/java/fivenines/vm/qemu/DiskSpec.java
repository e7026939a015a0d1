package fivenines.vm.qemu;

/**
 * One disk of a VM. Writes and reads that fail stop the guest (QEMU's
 * {@code werror=stop,rerror=stop}) rather than hand the error to it: a full thin pool
 * pauses the VM, which can continue once space is found.
 *
 * @param source where the bytes live
 * @param bus how the guest sees the disk
 * @param cache QEMU's cache mode
 * @param readOnly whether the guest may write
 */
public record DiskSpec(DiskSource source, DiskBus bus, CacheMode cache, boolean readOnly) {
    public DiskSpec {
        if (source == null) {
            throw new IllegalArgumentException("disk without a source");
        }
        bus = bus == null ? DiskBus.VIRTIO : bus;
        cache = cache == null ? CacheMode.NONE : cache;
    }

    /** A writable virtio disk with cache=none: what a VM on a cluster volume gets. */
    public static DiskSpec of(DiskSource source) {
        return new DiskSpec(source, DiskBus.VIRTIO, CacheMode.NONE, false);
    }
}
