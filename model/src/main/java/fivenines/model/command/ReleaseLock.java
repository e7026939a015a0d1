package fivenines.model.command;

/** Releases a lock held by an owner on a node, granting it to whoever waits next. */
public record ReleaseLock(String name, String node, String owner) implements Command {
}
