package fivenines.model.command;

/**
 * Takes a snapshot {@code snapshot} of {@code volumeGroup/name} in constant time: both share
 * every chunk until one of them writes it. An attached volume is snapshotted by the node that
 * serves it, which names the epoch it holds so that it has stopped writing in place first.
 */
public record SnapshotLogicalVolume(String volumeGroup, String name, String snapshot, boolean writable, long epoch)
    implements Command {
}
