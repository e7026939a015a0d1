package fivenines.model.storage;

import java.util.List;
import java.util.Map;

/**
 * What a volume engine needs to serve a volume: where each chunk is, and which chunks are the
 * volume's own (written in place) rather than shared with a snapshot (copied on write).
 * Chunks absent from {@code chunks} read as zeroes.
 */
public record VolumeView(String path, long size, long epoch, boolean readOnly, List<Attachment> attachments,
                         Map<Long, Located> chunks) {

    /** Where a chunk of the volume is, and whether only this volume uses it. */
    public record Located(ChunkRef chunk, boolean own) {
    }
}
