package fivenines.model.lock;

/** One holder (or waiter) of a lock: an owner on a node, and the log index of its grant or request. */
public record LockHolder(String node, String owner, LockMode mode, long since) {
    public boolean is(String otherNode, String otherOwner) {
        return node.equals(otherNode) && owner.equals(otherOwner);
    }
}
