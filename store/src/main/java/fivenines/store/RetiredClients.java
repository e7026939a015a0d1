package fivenines.store;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * Clients that were replaced and wait to be closed, with the requests still in flight on each.
 *
 * <p>A replaced client is closed once its grace time has passed and no request sent on it is
 * still open. A caller's wait can end long before the request does: a Ratis client goes on
 * retrying (up to its retry policy's count) after the caller gave up, and closing the client
 * under such a retry makes Ratis log "client is already CLOSED" as an error. A client whose
 * requests never end is closed at a hard limit all the same, so none is kept for ever. Clients
 * are closed only by {@link #closeDue}, on the caller's thread and outside this object's lock.
 */
final class RetiredClients<C> {
    private final Duration grace;
    private final Duration hardLimit;
    private final InstantSource clock;
    private final Consumer<C> closer;
    private final Map<C, int[]> inFlight = new IdentityHashMap<>();
    private final List<Entry<C>> retired = new ArrayList<>();

    RetiredClients(Duration grace, Duration hardLimit, InstantSource clock, Consumer<C> closer) {
        if (hardLimit.compareTo(grace) < 0) {
            throw new IllegalArgumentException("the hard limit " + hardLimit + " is shorter than the grace time " + grace);
        }
        this.grace = grace;
        this.hardLimit = hardLimit;
        this.clock = clock;
        this.closer = closer;
    }

    /** Counts {@code request} as open on {@code client} until it completes, and returns it. */
    synchronized <F extends CompletableFuture<?>> F track(C client, F request) {
        inFlight.computeIfAbsent(client, c -> new int[1])[0]++;
        request.whenComplete((r, e) -> ended(client));
        return request;
    }

    /** Only counts: closing a client from the thread that completes its request (one of its own) could wait on itself. */
    private synchronized void ended(C client) {
        int[] open = inFlight.get(client);
        if (open != null && --open[0] == 0) {
            inFlight.remove(client);
            if (inFlight.isEmpty()) {
                notifyAll();
            }
        }
    }

    /** Waits until no request is in flight on any client, or until {@code deadline} (the real clock's). */
    synchronized void awaitIdle(Instant deadline) {
        try {
            long left;
            while (!inFlight.isEmpty() && (left = Duration.between(Instant.now(), deadline).toMillis()) > 0) {
                wait(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Marks {@code client} replaced: it is closed by a later {@link #closeDue} once due. */
    synchronized void retire(C client) {
        if (client != null) {
            Instant now = clock.instant();
            retired.add(new Entry<>(client, now.plus(grace), now.plus(hardLimit)));
        }
    }

    /** Closes the replaced clients that are due ({@code all}: every one, as the replica closes). */
    void closeDue(boolean all) {
        List<C> due;
        synchronized (this) {
            due = takeDue(all);
        }
        due.forEach(closer);
    }

    synchronized int waiting() {
        return retired.size();
    }

    synchronized int open(C client) {
        int[] open = inFlight.get(client);
        return open == null ? 0 : open[0];
    }

    private List<C> takeDue(boolean all) {
        if (retired.isEmpty()) {
            return List.of();
        }
        Instant now = clock.instant();
        var due = new ArrayList<C>();
        retired.removeIf(e -> {
            boolean idle = !inFlight.containsKey(e.client());
            boolean close = all || (idle && !now.isBefore(e.closeAt())) || !now.isBefore(e.hardCloseAt());
            if (close) {
                due.add(e.client());
                inFlight.remove(e.client());
            }
            return close;
        });
        return due;
    }

    private record Entry<C>(C client, Instant closeAt, Instant hardCloseAt) {
    }
}
