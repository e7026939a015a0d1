package fivenines.vm.qemu;

/** QEMU's host cache modes for a disk. */
public enum CacheMode {
    /** O_DIRECT, guest flushes honoured: the default, safe for migration and shared storage. */
    NONE,
    /** Host page cache, guest flushes honoured. */
    WRITEBACK,
    /** Host page cache, every write synchronous. */
    WRITETHROUGH,
    /** O_DIRECT and every write synchronous. */
    DIRECTSYNC,
    /** Flushes ignored: for throw-away guests only. */
    UNSAFE;

    String qemuName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
