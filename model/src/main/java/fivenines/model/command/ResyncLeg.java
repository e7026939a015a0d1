package fivenines.model.command;

import fivenines.model.storage.ChunkSpan;

import java.util.List;

/**
 * The writer on {@code node} copied {@code done} to resyncing leg {@code leg}; with {@code complete},
 * the leg has nothing left to copy and joins the set (and a leg it replaces leaves the volume).
 */
public record ResyncLeg(String volumeGroup, String name, String node, long epoch, int leg, List<ChunkSpan> done,
                        boolean complete, long at) implements Command {
    public ResyncLeg {
        done = done == null ? List.of() : List.copyOf(done);
    }
}
