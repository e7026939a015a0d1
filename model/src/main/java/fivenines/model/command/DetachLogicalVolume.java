package fivenines.model.command;

/** Ends the volume's attachment on {@code node}, or every attachment when node is null; bumps the epoch. */
public record DetachLogicalVolume(String volumeGroup, String name, String node) implements Command {
}
