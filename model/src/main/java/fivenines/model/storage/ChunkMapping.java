package fivenines.model.storage;

/** Chunk {@code virtualChunk} of a logical volume is held by {@code chunk}. */
public record ChunkMapping(long virtualChunk, ChunkRef chunk) {
}
