package fivenines.model.command;

/**
 * Gives a volume a new leg (LVM's {@code lvconvert -m}), on {@code node} (null: the node with the most
 * free space that has no leg yet) or one PV {@code physicalVolume} there; it starts out of the set with
 * everything to copy. With {@code replaces}, that leg leaves the volume once the new one is in sync.
 */
public record AddLeg(String volumeGroup, String name, String node, String physicalVolume, Integer replaces,
                     Boolean anywhere, long at) implements Command {
}
