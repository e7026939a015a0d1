package fivenines.model.command;

/** Forgets a physical volume; refused while any of its extents is in use. */
public record RemovePhysicalVolume(String id) implements Command {
}
