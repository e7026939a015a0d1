package fivenines.model.command;

/**
 * The writer on {@code node} takes leg {@code leg} out of the volume's set because it failed or did
 * not answer in time ({@code reason}); made before the write that found it is acknowledged
 * (invariant 1). Moves the epoch, so the leg's block service refuses what the old writer still had in flight.
 */
public record DropLeg(String volumeGroup, String name, String node, long epoch, int leg, String reason, long at)
    implements Command {
}
