package fivenines.model.command;

import fivenines.model.storage.ChunkMapping;

import java.util.List;

/** Records where chunks written for the first time by the attachment on {@code node} are; each comes from its reservation. */
public record CommitChunks(String volumeGroup, String name, String node, long epoch, List<ChunkMapping> mappings)
    implements Command {
    public CommitChunks {
        mappings = List.copyOf(mappings);
    }
}
