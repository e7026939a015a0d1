package fivenines.model.lock;

import java.util.List;

/** A named lock: who holds it and who waits, in order. */
public record Lock(String name, List<LockHolder> holders, List<LockHolder> waiters) {
    public Lock {
        holders = List.copyOf(holders);
        waiters = List.copyOf(waiters);
    }

    public boolean heldBy(String node, String owner) {
        return holders.stream().anyMatch(h -> h.is(node, owner));
    }

    /** The holder for this owner on this node, if it holds the lock. */
    public java.util.Optional<LockHolder> holder(String node, String owner) {
        return holders.stream().filter(h -> h.is(node, owner)).findFirst();
    }

    public boolean waiting(String node, String owner) {
        return waiters.stream().anyMatch(h -> h.is(node, owner));
    }
}
