package fivenines.block.volume;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntToLongFunction;

/**
 * Reads a mirror started on its remote legs, which no thread waits for: the watch that finds a
 * leg late, as a waited-for read finds its leg late. A leg is late once reads started on it are
 * under way and it has not answered anything (its {@link AnsweringDevices#lastAnswer}) for the leg
 * timeout: while it answers, even slowly, it is slow, not gone.
 *
 * <p>{@link #late} decides, given the clock; it is called every half leg timeout. A leg is marked
 * the first time a look finds reads under way on it, with its last answer then; it is late when a
 * later look, at least the timeout after the mark, finds reads still under way and no answer since
 * the mark. A read under way at the mark has then been under way for the timeout at least (nothing
 * answered), and a read started after the mark cannot make its leg late sooner: the mark moves
 * with each answer and goes when no read is under way.
 */
final class ReadWatch {
    private final Map<Integer, Watched> legs = new ConcurrentHashMap<>();

    private static final class Watched {
        final AtomicInteger underWay = new AtomicInteger();
        /** Only the looking thread touches these. */
        boolean marked;
        long markAnswer;
        long markAt;
    }

    /** Counts {@code started} as under way on {@code leg} until it completes; returns it (null stays null). */
    CompletableFuture<Void> watch(int leg, CompletableFuture<Void> started) {
        if (started == null) {
            return null;
        }
        Watched watched = legs.computeIfAbsent(leg, l -> new Watched());
        watched.underWay.incrementAndGet();
        started.whenComplete((ignored, failure) -> watched.underWay.decrementAndGet());
        return started;
    }

    /** Reads under way on {@code leg}. */
    int underWay(int leg) {
        Watched watched = legs.get(leg);
        return watched == null ? 0 : watched.underWay.get();
    }

    /**
     * One look at {@code now} ({@link System#nanoTime()}'s scale): the legs late, each with how long
     * it has been silent since the mark, in nanoseconds. A leg found late is marked again from now (if
     * taking it out of the set fails, it is late again a timeout later, not at every look).
     */
    Map<Integer, Long> late(long now, long timeoutNanos, IntToLongFunction lastAnswer) {
        var late = new java.util.TreeMap<Integer, Long>();
        for (var entry : legs.entrySet()) {
            Watched w = entry.getValue();
            if (w.underWay.get() == 0) {
                w.marked = false;
                continue;
            }
            long answer = lastAnswer.applyAsLong(entry.getKey());
            if (!w.marked || answer != w.markAnswer) {
                w.marked = true;
                w.markAnswer = answer;
                w.markAt = now;
                continue;
            }
            if (now - w.markAt >= timeoutNanos) {
                late.put(entry.getKey(), now - w.markAt);
                w.markAt = now;
            }
        }
        return late;
    }
}
