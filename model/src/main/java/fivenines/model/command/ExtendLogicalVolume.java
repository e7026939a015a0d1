package fivenines.model.command;

/** Grows a logical volume to {@code newSize}; all or nothing. */
public record ExtendLogicalVolume(String volumeGroup, String name, long newSize) implements Command {
}
