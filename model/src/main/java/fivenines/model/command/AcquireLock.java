package fivenines.model.command;

import fivenines.model.lock.LockMode;

/**
 * Asks for a named lock for an owner on a node. When it cannot be granted now and
 * {@code queue} is true, the request waits in line (first come, first served) until a
 * release grants it or the requester cancels.
 */
public record AcquireLock(String name, LockMode mode, String node, String owner, boolean queue) implements Command {
}
