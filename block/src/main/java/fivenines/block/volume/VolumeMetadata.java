package fivenines.block.volume;

import fivenines.model.storage.ChunkMapping;
import fivenines.model.storage.ChunkRef;
import fivenines.model.storage.VolumeView;

import java.io.IOException;
import java.util.List;

/**
 * Where a volume engine learns and records a volume's chunks: the cluster store in an agent.
 * Failures are {@link fivenines.block.nbd.NbdErrorException}s: ENOSPC when the volume group is
 * full, ESHUTDOWN when the engine's epoch is no longer the volume's, EIO otherwise.
 */
public interface VolumeMetadata {

    /** The node this engine runs on. */
    String node();

    /** The volume's current map, epoch and attachments, as committed. */
    VolumeView view() throws IOException;

    /**
     * The map an engine starts from. The same as {@link #view()} unless the caller knows a cheaper
     * read is as fresh (the engine is started right after its attachment was applied here).
     */
    default VolumeView initialView() throws IOException {
        return view();
    }

    /** Takes up to {@code count} free chunks (at least one) for first writes. */
    List<ChunkRef> reserve(long epoch, int count) throws IOException;

    /** Records the chunks first written since the last commit; each came from {@link #reserve}. */
    void commit(long epoch, List<ChunkMapping> mappings) throws IOException;
}
