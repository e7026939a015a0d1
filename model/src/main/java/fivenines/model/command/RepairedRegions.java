package fivenines.model.command;

import fivenines.model.storage.ChunkSpan;

import java.util.List;

/**
 * The writer on {@code node} made the in-sync legs alike again over {@code done}: regions a writer
 * that went away without detaching cleanly may have left half-written.
 */
public record RepairedRegions(String volumeGroup, String name, String node, long epoch, List<ChunkSpan> done)
    implements Command {
    public RepairedRegions {
        done = List.copyOf(done);
    }
}
