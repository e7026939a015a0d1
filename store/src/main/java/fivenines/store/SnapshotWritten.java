package fivenines.store;

/**
 * A snapshot this replica wrote. Times are {@link System#nanoTime()} readings, comparable between
 * processes on one Linux machine (the monotonic clock).
 *
 * @param index       the last log index the snapshot holds
 * @param bytes       the size of the snapshot file
 * @param startNanos  when the snapshot was asked for, on the thread that applies entries
 * @param copiedNanos when that thread could apply entries again
 * @param endNanos    when the file was on disk under its name
 */
public record SnapshotWritten(long index, long bytes, long startNanos, long copiedNanos, long endNanos) {
}
