package fivenines.model.command;

import fivenines.model.storage.ChunkSpan;

import java.util.List;

/**
 * The writer on {@code node} takes leg {@code leg} out of the volume's set because it failed or did
 * not answer in time ({@code reason}); made before the write that found it is acknowledged
 * (invariant 1). {@code missed}: the chunks of the writes that failed on it. Moves the epoch, so the
 * leg's block service refuses what the old writer still had in flight.
 */
public record DropLeg(String volumeGroup, String name, String node, long epoch, int leg, String reason, long at,
                      List<ChunkSpan> missed) implements Command {
    public DropLeg {
        missed = missed == null ? List.of() : List.copyOf(missed);
    }

    public DropLeg(String volumeGroup, String name, String node, long epoch, int leg, String reason, long at) {
        this(volumeGroup, name, node, epoch, leg, reason, at, List.of());
    }
}
