package fivenines.model.command;

/** Renames a logical volume. */
public record RenameLogicalVolume(String volumeGroup, String name, String newName) implements Command {
}
