package fivenines.vm.qemu;

/** Image formats QEMU reads from a file. */
public enum ImageFormat {
    /** Plain bytes. */
    RAW,
    /** QEMU's copy-on-write format. */
    QCOW2;

    String qemuName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
