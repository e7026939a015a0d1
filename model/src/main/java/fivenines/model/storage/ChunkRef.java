package fivenines.model.storage;

/**
 * One chunk of a physical volume's data area: the PV's id and the chunk's index, counted in
 * {@link Volumes#CHUNK_SIZE} bytes from the start of the data area.
 */
public record ChunkRef(String physicalVolume, long chunk) {

    /** Byte offset of the chunk in its PV's data area. */
    public long offset() {
        return chunk * Volumes.CHUNK_SIZE;
    }
}
