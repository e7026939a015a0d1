package fivenines.model.storage;

/**
 * Consecutive chunks of a volume held by consecutive chunks of one physical volume: chunk
 * {@code virtualChunk + i} of the volume is chunk {@code chunk + i} of {@code physicalVolume}.
 */
public record ChunkRun(long virtualChunk, String physicalVolume, long chunk, long count) {
    public ChunkRun {
        if (count < 1 || chunk < 0 || virtualChunk < 0) {
            throw new IllegalArgumentException("a run needs chunks >= 0 and a count >= 1, not " + virtualChunk + " -> "
                + physicalVolume + ":" + chunk + "+" + count);
        }
    }

    public long end() {
        return virtualChunk + count;
    }

    /** The physical chunk holding volume chunk {@code at} (which must lie in this run). */
    public ChunkRef at(long at) {
        return new ChunkRef(physicalVolume, chunk + (at - virtualChunk));
    }

    /** The part of this run from volume chunk {@code from} (inclusive) to {@code to} (exclusive). */
    public ChunkRun slice(long from, long to) {
        long start = Math.max(from, virtualChunk);
        long stop = Math.min(to, end());
        return new ChunkRun(start, physicalVolume, chunk + (start - virtualChunk), stop - start);
    }

    public PhysicalRange physical() {
        return new PhysicalRange(physicalVolume, chunk, count);
    }

    /** Whether {@code next} continues this run in the volume and on the PV alike (so the two merge). */
    boolean continuedBy(ChunkRun next) {
        return end() == next.virtualChunk && physicalVolume.equals(next.physicalVolume) && chunk + count == next.chunk;
    }
}
