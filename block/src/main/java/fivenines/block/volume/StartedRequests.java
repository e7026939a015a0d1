package fivenines.block.volume;

import java.util.concurrent.CompletableFuture;

/**
 * Requests an engine started without waiting for them ({@code startRead}, {@code startWrite}):
 * each is started while the engine's quiesce lock is shared, as a waited-for request runs, but
 * ends on another thread, after the lock is let go. Whatever takes the lock exclusively (a
 * snapshot, a new epoch, closing) then waits here for those still under way, so that none of
 * them lands after it: nothing new can start meanwhile, since starting needs the lock shared.
 */
final class StartedRequests {
    private int underWay;

    /** Counts {@code started} (if not null) until it completes; returns it. */
    CompletableFuture<Void> track(CompletableFuture<Void> started) {
        if (started == null) {
            return null;
        }
        synchronized (this) {
            underWay++;
        }
        started.whenComplete((ignored, failure) -> ended());
        return started;
    }

    private synchronized void ended() {
        if (--underWay == 0) {
            notifyAll();
        }
    }

    /** Waits until every request started has completed (each is bounded by its connection's time-out). */
    synchronized void awaitNone() {
        boolean interrupted = false;
        while (underWay > 0) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    synchronized int underWay() {
        return underWay;
    }
}
