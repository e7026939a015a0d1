package fivenines.plugin;

import fivenines.model.lock.LockMode;

import java.time.Duration;
import java.util.concurrent.TimeoutException;

/**
 * Cluster-wide named locks. A lock is held by this node on behalf of an owner; it is
 * released by {@link Held#close()}, or when this node leaves or is declared gone.
 */
public interface ClusterLocks {

    /**
     * Acquires a lock, waiting up to {@code wait} (zero: do not wait).
     *
     * @throws TimeoutException if it was not granted in time (the request is withdrawn)
     */
    Held acquire(String name, LockMode mode, String owner, Duration wait) throws TimeoutException;

    /** A granted lock. */
    interface Held extends AutoCloseable {
        String name();

        LockMode mode();

        /** Releases the lock. */
        @Override
        void close();
    }
}
