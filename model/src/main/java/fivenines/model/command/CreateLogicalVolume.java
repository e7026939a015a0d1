package fivenines.model.command;

/**
 * Carves a logical volume, taking space on {@code preferNode} first when given; all or nothing.
 * A thin volume takes no space until it is written.
 */
public record CreateLogicalVolume(String volumeGroup, String name, long size, String preferNode, boolean thin)
    implements Command {
    public CreateLogicalVolume(String volumeGroup, String name, long size, String preferNode) {
        this(volumeGroup, name, size, preferNode, false);
    }
}
