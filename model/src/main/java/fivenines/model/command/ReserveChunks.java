package fivenines.model.command;

/** Hands up to {@code count} free chunks to the attachment on {@code node} for first writes (at least one, or rejected). */
public record ReserveChunks(String volumeGroup, String name, String node, long epoch, int count) implements Command {
}
