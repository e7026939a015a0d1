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
    });

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
        });
        var failed = throwing.index();
        assertTrue(failed.isCompletedExceptionally());
        assertEquals(4L, throwing.index().join());
    }

    @Test
    void theSameWaitersGetTheSameFuture() {
        reads.index();
        assertSame(reads.index(), reads.index());
    }
}
