package fivenines.agent.lock;

import fivenines.agent.api.ApiException;
import fivenines.model.command.AcquireLock;
import fivenines.model.command.CancelLockWait;
import fivenines.model.command.ReleaseLock;
import fivenines.model.lock.Lock;
import fivenines.model.lock.LockHolder;
import fivenines.model.lock.LockMode;
import fivenines.model.lock.LockOutcome;
import fivenines.plugin.Cluster;
import fivenines.plugin.ClusterLocks;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Locks through the store. A request that cannot be granted waits in the lock's queue in
 * the store; this node learns of the grant when it applies the command that caused it (a
 * release, a cancelled wait, a node declared down): the apply completes the waiting request's
 * future, nothing polls.
 */
public final class StoreLocks implements ClusterLocks {
    private final Cluster cluster;
    private final String node;
    /** Requests waiting on this node, by lock name and owner; each completes with its grant's token. */
    private final ConcurrentHashMap<String, CompletableFuture<Long>> grants = new ConcurrentHashMap<>();

    public StoreLocks(Cluster cluster, String node) {
        this.cluster = cluster;
        this.node = node;
        cluster.onApplied((index, command, result, state) -> {
            if (grants.isEmpty()) {
                return;
            }
            grants.forEach((key, future) -> {
                String name = key.substring(0, key.indexOf('\n'));
                String owner = key.substring(key.indexOf('\n') + 1);
                state.locks().lock(name).flatMap(l -> l.holder(node, owner)).ifPresent(h -> future.complete(h.token()));
            });
        });
    }

    private static String key(String name, String owner) {
        return name + "\n" + owner;
    }

    @Override
    public Held acquire(String name, LockMode mode, String owner, Duration wait) throws TimeoutException {
        String key = key(name, owner);
        var granted = new CompletableFuture<Long>();
        if (grants.putIfAbsent(key, granted) != null) {
            throw ApiException.conflict("owner '" + owner + "' on " + node + " is already waiting for lock '" + name + "'");
        }
        try {
            var outcome = (LockOutcome) ApiException.valueOf(join(cluster.submit(
                new AcquireLock(name, mode, node, owner, !wait.isZero()))));
            long token = outcome.status() == LockOutcome.Status.QUEUED
                ? awaitGrant(name, owner, wait, granted)
                : outcome.lock().holder(node, owner).orElseThrow().token();
            return new StoreHeld(name, mode, owner, token);
        } finally {
            grants.remove(key, granted);
        }
    }

    /** Waits for the grant; returns its token. */
    private long awaitGrant(String name, String owner, Duration wait, CompletableFuture<Long> granted) throws TimeoutException {
        Long already = cluster.read(s -> s.locks().lock(name).flatMap(l -> l.holder(node, owner)).map(LockHolder::token).orElse(null));
        if (already != null) {
            return already; // granted between the submit and the registration
        }
        try {
            return granted.get(wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            boolean withdrawn = (Boolean) ApiException.valueOf(join(cluster.submit(new CancelLockWait(name, node, owner))));
            if (withdrawn) {
                Lock lock = cluster.read(s -> s.locks().lock(name).orElse(null));
                throw new TimeoutException("lock '" + name + "' was not granted within " + wait.toSeconds() + " s"
                    + (lock == null ? "" : "; held by " + lock.holders().stream()
                        .map(h -> h.owner() + "@" + h.node() + " (" + h.mode() + ")").toList()));
            }
            // granted just as we gave up: keep it
            return cluster.read(s -> s.locks().lock(name).flatMap(l -> l.holder(node, owner)).map(LockHolder::token))
                .orElseThrow(() -> new ApiException(500, "lock '" + name + "' was granted to " + owner
                    + " but is no longer held (released, or " + node + " declared down)", true));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            join(cluster.submit(new CancelLockWait(name, node, owner)));
            throw new ApiException(503, "interrupted while waiting for lock '" + name + "'", true);
        } catch (ExecutionException e) {
            throw new ApiException(500, "waiting for lock '" + name + "' failed: " + e.getCause().getMessage(), true);
        }
    }

    public void release(String name, String owner) {
        ApiException.valueOf(join(cluster.submit(new ReleaseLock(name, node, owner))));
    }

    private static <T> T join(CompletableFuture<T> future) {
        try {
            return future.join();
        } catch (java.util.concurrent.CompletionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof ApiException api) {
                throw api;
            }
            if (cause instanceof fivenines.store.StoreException store) {
                throw new ApiException(503, store.getMessage(), store.mayHaveHappened());
            }
            throw new ApiException(500, cause.getMessage(), true);
        }
    }

    private final class StoreHeld implements Held {
        private final String name;
        private final LockMode mode;
        private final String owner;
        private final long token;

        StoreHeld(String name, LockMode mode, String owner, long token) {
            this.name = name;
            this.mode = mode;
            this.owner = owner;
            this.token = token;
        }

        @Override
        public long token() {
            return token;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public LockMode mode() {
            return mode;
        }

        @Override
        public void close() {
            release(name, owner);
        }
    }
}
