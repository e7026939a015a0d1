package fivenines.model.command;

/**
 * Carves a logical volume, taking space on {@code preferNode} first when given; all or nothing.
 * A thin volume takes no space until it is written. {@code mirrors} copies beyond the first (LVM's
 * {@code -m}) make a mirrored volume: each leg on its own node, or with {@code anywhere} on its own
 * PV of possibly one node.
 */
public record CreateLogicalVolume(String volumeGroup, String name, long size, String preferNode, boolean thin,
                                  Integer mirrors, Boolean anywhere) implements Command {
    public CreateLogicalVolume(String volumeGroup, String name, long size, String preferNode) {
        this(volumeGroup, name, size, preferNode, false);
    }

    public CreateLogicalVolume(String volumeGroup, String name, long size, String preferNode, boolean thin) {
        this(volumeGroup, name, size, preferNode, thin, null, null);
    }

    /** Legs the volume gets: 1 + mirrors. */
    public int legs() {
        return 1 + (mirrors == null ? 0 : mirrors);
    }

    public boolean allocAnywhere() {
        return Boolean.TRUE.equals(anywhere);
    }
}
