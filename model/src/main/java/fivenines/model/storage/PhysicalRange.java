package fivenines.model.storage;

/**
 * {@code count} consecutive chunks of one physical volume, from chunk {@code chunk} on.
 * A thick volume's pool and a PV's free space are held as these rather than chunk by chunk.
 */
public record PhysicalRange(String physicalVolume, long chunk, long count) {
    public PhysicalRange {
        if (count < 1 || chunk < 0) {
            throw new IllegalArgumentException("a range of chunks needs a start >= 0 and a count >= 1, not "
                + chunk + "+" + count);
        }
    }

    public long end() {
        return chunk + count;
    }

    /** Whether {@code next} continues this range on the same PV. */
    boolean continuedBy(PhysicalRange next) {
        return physicalVolume.equals(next.physicalVolume) && end() == next.chunk;
    }
}
