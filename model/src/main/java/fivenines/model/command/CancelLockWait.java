package fivenines.model.command;

/** Withdraws a queued lock request (its wait timed out). Does nothing to a granted lock. */
public record CancelLockWait(String name, String node, String owner) implements Command {
}
