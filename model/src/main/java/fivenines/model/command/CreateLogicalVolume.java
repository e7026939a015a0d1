package fivenines.model.command;

/** Carves a logical volume, taking extents on {@code preferNode} first when given; all or nothing. */
public record CreateLogicalVolume(String volumeGroup, String name, long size, String preferNode) implements Command {
}
