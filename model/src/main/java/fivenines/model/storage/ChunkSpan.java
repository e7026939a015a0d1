package fivenines.model.storage;

/** Chunks {@code start} to {@code start + count} (exclusive) of a volume. */
public record ChunkSpan(long start, long count) {
    public ChunkSpan {
        if (start < 0 || count < 1) {
            throw new IllegalArgumentException("a span of chunks needs a start >= 0 and a count >= 1, not " + start + "+" + count);
        }
    }

    public long end() {
        return start + count;
    }
}
