package fivenines.model.command;

/**
 * Hands up to {@code count} free chunks to the attachment on {@code node} for first writes on leg
 * {@code leg} (null: the first; at least one chunk, or rejected).
 */
public record ReserveChunks(String volumeGroup, String name, String node, long epoch, int count, Integer leg)
    implements Command {
    public ReserveChunks(String volumeGroup, String name, String node, long epoch, int count) {
        this(volumeGroup, name, node, epoch, count, null);
    }

    public int legIndex() {
        return leg == null ? 0 : leg;
    }
}
