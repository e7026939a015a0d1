package fivenines.model.lock;

/**
 * One holder (or waiter) of a lock: an owner on a node, and the log index of its grant or request.
 *
 * @param since for a holder, the log index of the command that granted it: its fencing token; for a
 *              waiter, the log index of its request
 */
public record LockHolder(String node, String owner, LockMode mode, long since) {
    public boolean is(String otherNode, String otherOwner) {
        return node.equals(otherNode) && owner.equals(otherOwner);
    }

    /**
     * A holder's fencing token: the log index of the command that granted it. Log indexes only grow
     * and one command grants a lock at most once in EX, so each EX grant of a lock has a larger token
     * than every grant of it before (PR holders granted by the same command share one). Whoever
     * guards a resource with the lock remembers the largest token it has seen and refuses a smaller
     * one: a holder that paused past its release (or past its node being declared down) is refused.
     */
    public long token() {
        return since;
    }
}
