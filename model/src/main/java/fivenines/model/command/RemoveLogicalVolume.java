package fivenines.model.command;

/** Removes a logical volume and frees its extents. */
public record RemoveLogicalVolume(String volumeGroup, String name) implements Command {
}
