package fivenines.model.lock;

import fivenines.model.command.AcquireLock;
import fivenines.model.command.CancelLockWait;
import fivenines.model.command.ReleaseLock;
import fivenines.model.state.Names;
import fivenines.model.state.Rejection;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Named locks with PR and EX modes, as the DLM offered them. A lock has one EX holder or
 * any number of PR holders, never both. Waiters are granted in arrival order; a PR request
 * that arrives behind a waiting EX request waits too, so writers are not starved.
 */
public final class LockTable {
    private final TreeMap<String, Lock> locks = new TreeMap<>();

    public Collection<Lock> locks() {
        return locks.values();
    }

    public Optional<Lock> lock(String name) {
        return Optional.ofNullable(locks.get(name));
    }

    public LockOutcome acquire(AcquireLock command, long index) {
        Names.requireLockName(command.name());
        Names.requireName("node", command.node());
        requireOwner(command.owner());
        if (command.mode() == null) {
            throw Rejection.invalid("lock mode is missing; use PR (shared) or EX (exclusive)");
        }
        Lock lock = locks.getOrDefault(command.name(), new Lock(command.name(), List.of(), List.of()));
        for (LockHolder holder : lock.holders()) {
            if (holder.is(command.node(), command.owner())) {
                if (holder.mode() == command.mode()) {
                    return new LockOutcome(LockOutcome.Status.GRANTED, lock);
                }
                throw Rejection.conflict("lock '" + command.name() + "' is already held in " + holder.mode()
                    + " by " + describe(holder) + "; release it before asking for " + command.mode());
            }
        }
        if (lock.waiting(command.node(), command.owner())) {
            return new LockOutcome(LockOutcome.Status.QUEUED, lock);
        }
        boolean grantable = lock.waiters().isEmpty() && compatible(lock.holders(), command.mode());
        LockHolder request = new LockHolder(command.node(), command.owner(), command.mode(), index);
        if (grantable) {
            lock = new Lock(lock.name(), append(lock.holders(), request), lock.waiters());
            locks.put(lock.name(), lock);
            return new LockOutcome(LockOutcome.Status.GRANTED, lock);
        }
        if (!command.queue()) {
            throw Rejection.conflict("lock '" + command.name() + "' is held by "
                + lock.holders().stream().map(LockTable::describe).toList()
                + (lock.waiters().isEmpty() ? "" : " with " + lock.waiters().size() + " waiting")
                + "; wait for it (--wait SECONDS) or try later");
        }
        lock = new Lock(lock.name(), lock.holders(), append(lock.waiters(), request));
        locks.put(lock.name(), lock);
        return new LockOutcome(LockOutcome.Status.QUEUED, lock);
    }

    /** Releases one holder; returns the holders granted as a result. */
    public List<LockHolder> release(ReleaseLock command, long index) {
        Names.requireLockName(command.name());
        Lock lock = locks.get(command.name());
        if (lock == null || !lock.heldBy(command.node(), command.owner())) {
            throw Rejection.notFound("lock '" + command.name() + "' is not held by " + command.owner()
                + " on " + command.node() + (lock == null ? "" : "; holders: "
                + lock.holders().stream().map(LockTable::describe).toList()));
        }
        List<LockHolder> holders = lock.holders().stream().filter(h -> !h.is(command.node(), command.owner())).toList();
        return settle(new Lock(lock.name(), holders, lock.waiters()), index);
    }

    /** Withdraws a waiter. Returns true if it was waiting; false if it holds the lock already (it was granted). */
    public boolean cancelWait(CancelLockWait command, long index) {
        Names.requireLockName(command.name());
        Lock lock = locks.get(command.name());
        if (lock != null && lock.heldBy(command.node(), command.owner())) {
            return false;
        }
        if (lock == null || !lock.waiting(command.node(), command.owner())) {
            throw Rejection.notFound("no request by " + command.owner() + " on " + command.node()
                + " waits for lock '" + command.name() + "'");
        }
        List<LockHolder> waiters = lock.waiters().stream().filter(h -> !h.is(command.node(), command.owner())).toList();
        settle(new Lock(lock.name(), lock.holders(), waiters), index);
        return true;
    }

    /** Drops every hold and wait of a node that left or was declared down; returns the resulting grants. */
    public List<LockHolder> releaseAllOf(String node, long index) {
        var granted = new ArrayList<LockHolder>();
        for (Lock lock : List.copyOf(locks.values())) {
            List<LockHolder> holders = lock.holders().stream().filter(h -> !h.node().equals(node)).toList();
            List<LockHolder> waiters = lock.waiters().stream().filter(h -> !h.node().equals(node)).toList();
            if (holders.size() != lock.holders().size() || waiters.size() != lock.waiters().size()) {
                granted.addAll(settle(new Lock(lock.name(), holders, waiters), index));
            }
        }
        return granted;
    }

    /** Grants waiters from the head of the queue while they are compatible; forgets empty locks. */
    private List<LockHolder> settle(Lock lock, long index) {
        var holders = new ArrayList<>(lock.holders());
        var waiters = new ArrayList<>(lock.waiters());
        var granted = new ArrayList<LockHolder>();
        while (!waiters.isEmpty() && compatible(holders, waiters.getFirst().mode())) {
            LockHolder next = waiters.removeFirst();
            LockHolder grant = new LockHolder(next.node(), next.owner(), next.mode(), index);
            holders.add(grant);
            granted.add(grant);
        }
        if (holders.isEmpty() && waiters.isEmpty()) {
            locks.remove(lock.name());
        } else {
            locks.put(lock.name(), new Lock(lock.name(), holders, waiters));
        }
        return granted;
    }

    private static boolean compatible(List<LockHolder> holders, LockMode mode) {
        return holders.stream().allMatch(h -> h.mode().compatibleWith(mode));
    }

    private static List<LockHolder> append(List<LockHolder> list, LockHolder item) {
        var copy = new ArrayList<>(list);
        copy.add(item);
        return copy;
    }

    private static String describe(LockHolder holder) {
        return holder.owner() + "@" + holder.node() + " (" + holder.mode() + ")";
    }

    private static void requireOwner(String owner) {
        if (owner == null || owner.isBlank() || owner.length() > 200) {
            throw Rejection.invalid("lock owner must be 1-200 characters");
        }
    }

    public List<Lock> snapshot() {
        return List.copyOf(locks.values());
    }

    public void restore(List<Lock> snapshot) {
        locks.clear();
        snapshot.forEach(l -> locks.put(l.name(), l));
    }
}
