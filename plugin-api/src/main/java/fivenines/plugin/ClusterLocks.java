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

        /**
         * The grant's fencing token: the log index of the store command that granted it. A later
         * grant of the same lock always has a larger one. Send it with every write to what the lock
         * guards; whoever checks refuses a token smaller than the largest it has seen, so a holder
         * that paused past its release (or its node declared down) cannot write after the next holder.
         */
        long token();

        /** Releases the lock. */
        @Override
        void close();
    }
}
