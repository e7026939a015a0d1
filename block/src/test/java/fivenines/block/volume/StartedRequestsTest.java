package fivenines.block.volume;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A quiesce waits for the writes started before it, failed or done, and for nothing else. */
class StartedRequestsTest {

    @Test
    void awaitNoneReturnsOnlyOnceEveryStartedRequestEnded() throws Exception {
        var started = new StartedRequests();
        var one = new CompletableFuture<Void>();
        var two = new CompletableFuture<Void>();
        started.track(one);
        started.track(two);
        assertNull(started.track(null), "nothing started, nothing counted");
        var quiesced = new CompletableFuture<Void>();
        Thread waiter = Thread.ofPlatform().start(() -> {
            started.awaitNone();
            quiesced.complete(null);
        });
        one.complete(null);
        TimeUnit.MILLISECONDS.sleep(100);
        assertFalse(quiesced.isDone(), "a request still under way holds the quiesce");
        assertEquals(1, started.underWay());
        two.completeExceptionally(new java.io.IOException("lost connection"));
        quiesced.get(5, TimeUnit.SECONDS);
        waiter.join();
        assertEquals(0, started.underWay());
        assertTrue(quiesced.isDone());
    }
}
