package fivenines.store;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Supplier;

/**
 * Linearizable reads of one replica that wait together: at most one query for the leader's
 * applied index is in flight, and the reads that arrive while it is share the one sent after it.
 *
 * <p>Why that is still linearizable: a read may take the answer of a query only if the query was
 * sent after the read began. Everything committed before the read began was committed before that
 * query reached the leader, so the index it answers covers it. A read that arrives while a query
 * is in flight therefore never takes that query's answer (the query may have been answered by the
 * leader before the read began); it waits for the next one, which is sent when the one in flight
 * ends and answers every read that waited for it.
 *
 * <p>Without this, 64 clients reading through three agents sent 64 queries through gRPC to the
 * leader; with it, each agent sends at most one at a time, whatever the number of readers.
 */
final class SharedReads {
    private final Supplier<CompletableFuture<Long>> query;
    private final Executor sender;
    /** Whether a query is in flight. */
    private boolean busy;
    /** The reads waiting for the query in flight, or null when none is. */
    private CompletableFuture<Long> inFlight;
    /** The reads waiting for the query after the one in flight, or null when none waits. */
    private CompletableFuture<Long> next;
    /** Moves when the leader changes: a query of an earlier generation no longer holds the reads up. */
    private long generation;
    private long sent;

    /**
     * @param query  sends one query and completes with the index it answered (it must complete, by a time-out at the latest)
     * @param sender runs the sending of a query that follows one that ended. Not the thread that ended it:
     *               that is one of Ratis' own, and a query sent from Ratis' request thread waits for that
     *               same thread (the leader's own server takes a request by handing it to its one request
     *               thread and waiting), which never came back: every read and command of the replica then hung
     */
    SharedReads(Supplier<CompletableFuture<Long>> query, Executor sender) {
        this.query = query;
        this.sender = sender;
    }

    /** The index a read beginning now may wait for: the answer of a query sent from now on. */
    CompletableFuture<Long> index() {
        CompletableFuture<Long> mine;
        long gen;
        synchronized (this) {
            if (busy) {
                if (next == null) {
                    next = new CompletableFuture<>();
                }
                return next;
            }
            busy = true;
            mine = new CompletableFuture<>();
            inFlight = mine;
            gen = generation;
        }
        send(mine, gen);
        return mine;
    }

    /**
     * The replica learned of a new leader. A query in flight then most likely went to the old one
     * and ends only by its time-out (seconds: after a leader's death every linearizable read of the
     * survivors waited for it, and then for the query queued behind it). Every read waiting began
     * before now, so a query sent now may answer all of them: one is sent at once (through
     * {@code sender}), and whichever of the old and the new answers first answers them.
     */
    void leaderChanged() {
        CompletableFuture<Long> waitingInFlight;
        CompletableFuture<Long> waitingNext;
        synchronized (this) {
            if (!busy) {
                return;
            }
            generation++;
            waitingInFlight = inFlight;
            waitingNext = next;
            inFlight = null;
            next = null;
            busy = false;
        }
        try {
            sender.execute(() -> index().whenComplete((index, error) -> {
                for (var waiting : java.util.Arrays.asList(waitingInFlight, waitingNext)) {
                    if (waiting == null) {
                        continue;
                    }
                    if (error != null) {
                        waiting.completeExceptionally(error);
                    } else {
                        waiting.complete(index);
                    }
                }
            }));
        } catch (RuntimeException e) {
            if (waitingInFlight != null) {
                waitingInFlight.completeExceptionally(e);
            }
            if (waitingNext != null) {
                waitingNext.completeExceptionally(e);
            }
        }
    }

    /** How many queries were sent so far. */
    synchronized long queriesSent() {
        return sent;
    }

    /** A follow-up query that could not be sent: its reads fail, and the next read sends one of its own. */
    private void failFollowing(CompletableFuture<Long> following, long gen, RuntimeException error) {
        CompletableFuture<Long> after = null;
        synchronized (this) {
            if (gen == generation) {
                after = next;
                next = null;
                inFlight = null;
                busy = false;
            }
        }
        following.completeExceptionally(error);
        if (after != null) {
            after.completeExceptionally(error);
        }
    }

    private void send(CompletableFuture<Long> waiting, long gen) {
        CompletableFuture<Long> answer;
        synchronized (this) {
            if (gen != generation) {
                return; // given up before it went out: the query sent at the leader change answers its reads
            }
            sent++;
        }
        try {
            answer = query.get();
        } catch (RuntimeException e) {
            answer = CompletableFuture.failedFuture(e);
        }
        answer.whenComplete((index, error) -> {
            CompletableFuture<Long> following = null;
            long followingGen;
            boolean current;
            synchronized (this) {
                current = gen == generation;
                if (current) {
                    following = next;
                    next = null;
                    busy = following != null;
                    inFlight = following;
                }
                followingGen = generation;
            }
            if (error == null) {
                waiting.complete(index); // sent after each of its reads began, even if given up since
            } else if (current) {
                waiting.completeExceptionally(error); // a given-up query's failure is not its reads': the new one answers
            }
            if (following != null) {
                // sent after the one that just ended: every read waiting for it began before now
                CompletableFuture<Long> f = following;
                try {
                    sender.execute(() -> send(f, followingGen));
                } catch (RuntimeException e) {
                    failFollowing(f, followingGen, e);
                }
            }
        });
    }
}
