package fivenines.block.volume;

import fivenines.model.storage.ChunkSpan;
import fivenines.model.storage.MirrorStatus;
import fivenines.model.storage.VolumeView;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * Where a mirror's engine learns and records its legs: the cluster store in an agent. Failures are
 * {@link fivenines.block.nbd.NbdErrorException}s as for {@link VolumeMetadata}; a command the store
 * cannot make (no quorum) fails with EIO, and then the write that needed it is not acknowledged.
 */
public interface MirrorMetadata {

    String node();

    /** The metadata of one leg, for that leg's engine. */
    VolumeMetadata leg(int leg);

    /** The volume as leg {@code leg} holds it (its epoch, attachments and the leg's runs). */
    VolumeView view(int leg) throws IOException;

    /** The legs, their states and what they miss, as committed. */
    MirrorStatus status() throws IOException;

    /** Takes leg {@code leg} out of the set; {@code missed}: chunks of the writes that failed on it. */
    void dropLeg(long epoch, int leg, String reason, List<ChunkSpan> missed) throws IOException;

    void markRegions(long epoch, List<ChunkSpan> activate, List<ChunkSpan> retire, Map<Integer, List<ChunkSpan>> missed)
        throws IOException;

    void startResync(long epoch, int leg) throws IOException;

    void resynced(long epoch, int leg, List<ChunkSpan> done, boolean complete) throws IOException;

    void repaired(long epoch, List<ChunkSpan> done) throws IOException;
}
