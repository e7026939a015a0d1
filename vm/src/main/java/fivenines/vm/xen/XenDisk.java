package fivenines.vm.xen;

import java.nio.file.Path;

/** A disk of a Xen domain. */
public sealed interface XenDisk {
    /** The device name the guest saw, such as {@code sda1} or {@code xvda}. */
    String guestDevice();

    boolean readOnly();

    /** A logical volume, {@code phy:vg/lv} or {@code phy:/dev/vg/lv}: maps to a cluster volume. */
    record Volume(String volumeGroup, String logicalVolume, String guestDevice, boolean readOnly) implements XenDisk {
        public String reference() {
            return volumeGroup + "/" + logicalVolume;
        }
    }

    /** An image file on the Xen host ({@code file:} or {@code tap:aio:}): it must be copied into a volume first. */
    record File(Path path, String guestDevice, boolean readOnly) implements XenDisk {
    }
}
