package fivenines.model.command;

import fivenines.model.storage.ChunkMapping;

import java.util.List;

/**
 * Records where chunks written for the first time on leg {@code leg} (null: the first) by the
 * attachment on {@code node} are; each comes from its reservation.
 */
public record CommitChunks(String volumeGroup, String name, String node, long epoch, List<ChunkMapping> mappings,
                           Integer leg) implements Command {
    public CommitChunks {
        mappings = List.copyOf(mappings);
    }

    public CommitChunks(String volumeGroup, String name, String node, long epoch, List<ChunkMapping> mappings) {
        this(volumeGroup, name, node, epoch, mappings, null);
    }

    public int legIndex() {
        return leg == null ? 0 : leg;
    }
}
