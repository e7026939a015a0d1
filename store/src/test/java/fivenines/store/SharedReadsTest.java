package fivenines.store;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SharedReadsTest {
    /** Queries the test answers by hand, in the order they were sent. */
    private final List<CompletableFuture<Long>> queries = new ArrayList<>();
    private final SharedReads reads = new SharedReads(() -> {
        var query = new CompletableFuture<Long>();
        queries.add(query);
        return query;
    }, Runnable::run);

    @Test
    void aReadThatBeginsWhileAQueryIsInFlightWaitsForTheNextQuery() {
        var first = reads.index();
        assertEquals(1, queries.size());
        var second = reads.index(); // began after the first query was sent: that query's answer may predate it
        assertEquals(1, queries.size(), "the second waits, no query of its own yet");

        queries.get(0).complete(10L);
        assertEquals(10L, first.join());
        assertFalse(second.isDone(), "a read must not take the answer of a query sent before it began");
        assertEquals(2, queries.size(), "the next query goes out once the first ended");

        queries.get(1).complete(12L);
        assertEquals(12L, second.join());
    }

    @Test
    void readsWaitingTogetherShareOneQuery() {
        var first = reads.index();
        var waiting = new ArrayList<CompletableFuture<Long>>();
        for (int i = 0; i < 50; i++) {
            waiting.add(reads.index());
        }
        queries.get(0).complete(3L);
        queries.get(1).complete(7L);
        assertEquals(3L, first.join());
        for (var read : waiting) {
            assertEquals(7L, read.join());
        }
        assertEquals(2, reads.queriesSent(), "51 reads, two queries");
        // nothing waits now: the next read sends a query at once
        var later = reads.index();
        assertEquals(3, queries.size());
        queries.get(2).complete(9L);
        assertEquals(9L, later.join());
    }

    @Test
    void aFailedQueryFailsItsReadsAndTheNextOneIsSentAnyway() {
        var first = reads.index();
        var second = reads.index();
        queries.get(0).completeExceptionally(new StoreException("no leader", false, null));
        var error = assertThrows(ExecutionException.class, first::get);
        assertTrue(error.getCause() instanceof StoreException);
        assertEquals(2, queries.size());
        queries.get(1).complete(5L);
        assertEquals(5L, second.join());
    }

    @Test
    void aQueryThatThrowsFailsItsReadsWithoutWedgingTheNext() {
        var throwing = new SharedReads(new java.util.function.Supplier<>() {
            int calls;

            @Override
            public CompletableFuture<Long> get() {
                if (calls++ == 0) {
                    throw new StoreException("the store replica is closed", false, null);
                }
                return CompletableFuture.completedFuture(4L);
            }
        }, Runnable::run);
        var failed = throwing.index();
        assertTrue(failed.isCompletedExceptionally());
        assertEquals(4L, throwing.index().join());
    }

    @Test
    void theFollowingQueryIsNotSentFromTheThreadThatEndedTheLastOne() throws Exception {
        // the leader's own Ratis server ends a read on its one request thread, and a request sent from that
        // thread waits for that same thread: sent there, the next query (and every later request) hung
        var sentOn = new java.util.concurrent.LinkedBlockingQueue<Thread>();
        var pending = new java.util.concurrent.LinkedBlockingQueue<CompletableFuture<Long>>();
        var sender = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            var shared = new SharedReads(() -> {
                sentOn.add(Thread.currentThread());
                var query = new CompletableFuture<Long>();
                pending.add(query);
                return query;
            }, sender);
            var first = shared.index();
            var second = shared.index();
            assertSame(Thread.currentThread(), sentOn.take(), "a read that finds none in flight sends its own query");
            Thread ratis = new Thread(() -> pending.poll().complete(1L), "ratis-request-thread");
            ratis.start();
            ratis.join();
            assertEquals(1L, first.join());
            Thread follow = sentOn.poll(10, java.util.concurrent.TimeUnit.SECONDS);
            assertTrue(follow != null && follow != ratis, "the following query was sent on " + follow);
            pending.poll(10, java.util.concurrent.TimeUnit.SECONDS).complete(2L);
            assertEquals(2L, second.get(10, java.util.concurrent.TimeUnit.SECONDS));
        } finally {
            sender.shutdownNow();
        }
    }

    @Test
    void readsWaitingWhenTheReplicaClosesFailInsteadOfHanging() {
        var closed = new SharedReads(() -> new CompletableFuture<Long>() {
            { completeAsync(() -> 1L); }
        }, command -> {
            throw new java.util.concurrent.RejectedExecutionException("closed");
        });
        var first = new ArrayList<CompletableFuture<Long>>();
        var gate = new CompletableFuture<Long>();
        var gated = new SharedReads(() -> gate, command -> {
            throw new java.util.concurrent.RejectedExecutionException("closed");
        });
        first.add(gated.index());
        var waiting = gated.index();
        gate.complete(3L);
        assertEquals(3L, first.getFirst().join());
        assertTrue(waiting.isCompletedExceptionally(), "its query could not be sent: the read fails");
        assertTrue(closed.index().join() == 1L);
    }

    @Test
    void aLeaderChangeSendsANewQueryThatAnswersEveryWaitingReadInsteadOfWaitingForTheOldOnesTimeOut() {
        var first = reads.index();   // its query went to the leader that then died: it ends only by its time-out
        var second = reads.index();  // queued behind it
        assertEquals(1, queries.size());
        reads.leaderChanged();
        assertEquals(2, queries.size(), "a new query goes out at once");
        queries.get(1).complete(40L);
        assertEquals(40L, first.join(), "sent after both reads began: it answers both");
        assertEquals(40L, second.join());
        // the old query times out later: that fails nobody and does not wedge the reads after it
        queries.get(0).completeExceptionally(new java.util.concurrent.TimeoutException("old leader"));
        var later = reads.index();
        assertEquals(3, queries.size(), "nothing in flight now: a read sends its own query");
        queries.get(2).complete(41L);
        assertEquals(41L, later.join());
        // and with nothing in flight, a leader change sends nothing
        reads.leaderChanged();
        assertEquals(3, queries.size());
    }

    @Test
    void anOldQueryThatAnswersFirstAfterALeaderChangeStillAnswersItsOwnReadsAndTheNewOneTheRest() {
        var first = reads.index();
        reads.leaderChanged();
        var third = reads.index(); // began after the new query was sent: waits for the one after it
        assertEquals(2, queries.size());
        queries.get(0).complete(5L);  // the old leader answered after all: its query was sent after 'first' began
        assertEquals(5L, first.join());
        assertFalse(third.isDone());
        queries.get(1).complete(6L);
        assertEquals(3, queries.size(), "the read queued behind the new query gets its own");
        assertFalse(third.isDone(), "not the answer of a query sent before it began");
        queries.get(2).complete(7L);
        assertEquals(7L, third.join());
    }

    @Test
    void theSameWaitersGetTheSameFuture() {
        reads.index();
        assertSame(reads.index(), reads.index());
    }
}
