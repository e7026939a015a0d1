package fivenines.block.volume;

import fivenines.block.export.BlockExport;

import java.io.IOException;

/** Opens a physical volume's data area for a volume engine: locally, or through the block service of the PV's node. */
public interface ChunkDevices {

    /**
     * I/O on physical volume {@code physicalVolume} on behalf of {@code volume} at {@code epoch}:
     * every request is refused (ESHUTDOWN) once the volume has a newer epoch.
     */
    BlockExport open(String physicalVolume, String volume, long epoch) throws IOException;

    /** Whether the physical volume is on this node (read and written without the network). */
    default boolean isLocal(String physicalVolume) {
        return false;
    }
}
