package fivenines.model.command;

/**
 * Serves a volume on {@code node}. Exclusive unless {@code shared}; {@code force} takes it from
 * the nodes serving it now (they are cut off by the new epoch). {@code nbdAddress} and
 * {@code nbdSocket} say where that node's block service serves it (null when unknown).
 */
public record AttachLogicalVolume(String volumeGroup, String name, String node, boolean shared, boolean force,
                                  String nbdAddress, String nbdSocket) implements Command {
    public AttachLogicalVolume(String volumeGroup, String name, String node, boolean shared, boolean force) {
        this(volumeGroup, name, node, shared, force, null, null);
    }
}
