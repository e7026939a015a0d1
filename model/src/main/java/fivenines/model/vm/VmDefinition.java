package fivenines.model.vm;

import java.util.List;

/**
 * A virtual machine as the cluster keeps it: what QEMU needs, wherever it runs.
 *
 * @param name         1-63 letters, digits, '.', '_' or '-'
 * @param memoryMib    guest memory
 * @param vcpus        virtual CPUs
 * @param boot         a kernel, initrd and command line (like a Xen PV guest), or from its first disk
 * @param disks        logical volumes, in the order the guest sees them
 * @param nics         network cards
 * @param onCrash      what to do when the guest crashes or QEMU dies: restart, destroy or preserve
 * @param priority     restart priority for failover (higher first), kept for the HA manager
 * @param antiAffinity VMs of one group are kept on different nodes where possible (and never recovered onto a
 *                     node holding one of its group), or null
 * @param ha           restarted on another node when its node dies (after that node's lease ended and it was fenced)
 */
public record VmDefinition(String name, int memoryMib, int vcpus, VmBoot boot, List<VmDisk> disks, List<VmNic> nics,
                           String onCrash, int priority, String antiAffinity, Boolean ha) {
    public VmDefinition {
        ha = ha != null && ha; // absent in definitions from before HA and from clients that do not set it: off
        disks = disks == null ? List.of() : List.copyOf(disks);
        nics = nics == null ? List.of() : List.copyOf(nics);
        onCrash = onCrash == null ? "restart" : onCrash;
    }

    /** A definition with HA off. */
    public VmDefinition(String name, int memoryMib, int vcpus, VmBoot boot, List<VmDisk> disks, List<VmNic> nics,
                        String onCrash, int priority, String antiAffinity) {
        this(name, memoryMib, vcpus, boot, disks, nics, onCrash, priority, antiAffinity, false);
    }

    public VmDefinition withHa(boolean newHa, int newPriority, String newAntiAffinity) {
        return new VmDefinition(name, memoryMib, vcpus, boot, disks, nics, onCrash, newPriority, newAntiAffinity, newHa);
    }

    /**
     * How the guest boots.
     *
     * @param kernel      a kernel image on every node (same path), or null to boot from the first disk
     * @param initrd      an initial ramdisk, or null
     * @param commandLine the kernel command line
     */
    public record VmBoot(String kernel, String initrd, String commandLine) {
        public boolean fromDisk() {
            return kernel == null;
        }
    }

    /**
     * A disk: a logical volume {@code VG/LV}.
     *
     * @param bus      virtio or ide
     * @param cache    writeback, none, writethrough, directsync or unsafe
     */
    public record VmDisk(String volume, String bus, String cache, boolean readOnly) {
        public VmDisk {
            bus = bus == null ? "virtio" : bus;
            cache = cache == null ? "writeback" : cache;
        }
    }

    /**
     * A network card.
     *
     * @param network {@code user} (QEMU's NAT, the default), {@code bridge:NAME} or {@code tap:NAME}
     */
    public record VmNic(String mac, String network) {
        public VmNic {
            network = network == null ? "user" : network;
        }
    }
}
