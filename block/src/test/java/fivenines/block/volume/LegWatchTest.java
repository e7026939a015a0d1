package fivenines.block.volume;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Requests started on remote legs, looked at with a clock of the test's own: late only after the timeout of silence. */
class LegWatchTest {
    static final long TIMEOUT = 2_000;
    /** Leg 2 answers all along (its last answer is always ahead of the clock here). */
    static final long OTHER = Long.MAX_VALUE / 2;
    static final List<Integer> LEGS = List.of(1, 2);

    @Test
    void aLegWithAReadUnderWayIsLateOnlyOnceItHasNotAnsweredForTheTimeoutSinceALookFoundTheRead() {
        var watch = new LegWatch();
        var answer = new AtomicLong(0);
        var read = watch.watch(1, new CompletableFuture<>());
        assertEquals(Map.of(), watch.late(10_000, TIMEOUT, leg -> leg == 1 ? answer.get() : OTHER, LEGS), "the first look marks it");
        assertEquals(Map.of(), watch.late(11_000, TIMEOUT, leg -> leg == 1 ? answer.get() : OTHER, LEGS));
        assertEquals(Map.of(), watch.late(11_999, TIMEOUT, leg -> leg == 1 ? answer.get() : OTHER, LEGS));
        assertEquals(Map.of(1, 2_000L), watch.late(12_000, TIMEOUT, leg -> leg == 1 ? answer.get() : OTHER, LEGS));
        // taking it out failed (no quorum): late again a timeout later, not at each look
        assertEquals(Map.of(), watch.late(13_000, TIMEOUT, leg -> leg == 1 ? answer.get() : OTHER, LEGS));
        assertEquals(Map.of(1, 2_000L), watch.late(14_000, TIMEOUT, leg -> leg == 1 ? answer.get() : OTHER, LEGS));
        read.complete(null);
        assertEquals(Map.of(), watch.late(20_000, TIMEOUT, leg -> leg == 1 ? answer.get() : OTHER, LEGS), "nothing under way: nothing late");
        assertEquals(0, watch.underWay(1));
    }

    @Test
    void aLegThatGoesOnAnsweringIsSlowNotGone() {
        var watch = new LegWatch();
        var answer = new AtomicLong(0);
        watch.watch(1, new CompletableFuture<>());
        for (long now = 0; now <= 20_000; now += 1_000) {
            answer.set(now - 500); // some other read on the leg answered since the last look
            assertEquals(Map.of(), watch.late(now, TIMEOUT, leg -> leg == 1 ? answer.get() : OTHER, LEGS), "at " + now);
        }
    }

    @Test
    void aReadStartedAfterALongIdleSpellHasTheWholeTimeout() {
        var watch = new LegWatch();
        var first = watch.watch(1, new CompletableFuture<>());
        first.complete(null);
        // the leg last answered at 0; idle until a read starts at 59,900, just before a look at 60,000
        assertEquals(Map.of(), watch.late(58_000, TIMEOUT, leg -> leg == 1 ? 0 : OTHER, LEGS));
        var late = watch.watch(1, new CompletableFuture<>());
        assertEquals(Map.of(), watch.late(60_000, TIMEOUT, leg -> leg == 1 ? 0 : OTHER, LEGS), "long silent, but the read is new");
        assertEquals(Map.of(), watch.late(61_000, TIMEOUT, leg -> leg == 1 ? 0 : OTHER, LEGS));
        assertEquals(Map.of(1, 2_000L), watch.late(62_000, TIMEOUT, leg -> leg == 1 ? 0 : OTHER, LEGS));
        late.completeExceptionally(new java.io.IOException("connection lost"));
        assertEquals(0, watch.underWay(1), "a read that failed is no longer under way");
    }

    @Test
    void legsAreLookedAtApart() {
        var watch = new LegWatch();
        watch.watch(1, new CompletableFuture<>());
        watch.watch(2, new CompletableFuture<>());
        watch.watch(2, new CompletableFuture<>());
        assertEquals(2, watch.underWay(2));
        var answers = new java.util.HashMap<Integer, Long>(Map.of(1, 0L, 2, 0L));
        watch.late(0, TIMEOUT, answers::get, List.of(1, 2));
        answers.put(2, 1_500L);
        assertEquals(Map.of(1, 2_500L), watch.late(2_500, TIMEOUT, answers::get, List.of(1, 2)), "leg 2 answered meanwhile");
        assertEquals(null, watch.watch(3, null));
    }

    @Test
    void whileNoOtherLegAnswersEitherTheSilenceIsThisNodesAndNoLegIsLate() {
        var watch = new LegWatch();
        watch.watch(1, new CompletableFuture<>());
        watch.watch(2, new CompletableFuture<>());
        var answers = new java.util.HashMap<Integer, Long>(Map.of(1, 0L, 2, 0L));
        assertEquals(Map.of(), watch.late(1_000, TIMEOUT, answers::get, LEGS));
        assertEquals(Map.of(), watch.late(5_000, TIMEOUT, answers::get, LEGS), "both silent: neither is taken out");
        answers.put(2, 5_500L); // leg 2 answers again: leg 1 alone is silent
        assertEquals(Map.of(1, 5_000L), watch.late(6_000, TIMEOUT, answers::get, LEGS));
        assertEquals(Map.of(), watch.late(6_000, TIMEOUT, answers::get, List.of(1)), "a leg alone in the set is never late");
    }

    @Test
    void aLegIsLateBesideALegWithNothingUnderWay() {
        var watch = new LegWatch();
        watch.watch(1, new CompletableFuture<>());
        watch.watch(2, new CompletableFuture<>()).complete(null);
        // one client reading one block at a time: its read hangs on leg 1, leg 2 has nothing to answer
        var answers = new java.util.HashMap<Integer, Long>(Map.of(1, 0L, 2, 0L));
        assertEquals(Map.of(), watch.late(1_000, TIMEOUT, answers::get, LEGS));
        assertEquals(Map.of(1, 2_000L), watch.late(3_000, TIMEOUT, answers::get, LEGS));
    }
}
