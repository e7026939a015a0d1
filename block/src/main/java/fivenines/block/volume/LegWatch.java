package fivenines.block.volume;

import java.util.Collection;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntToLongFunction;

/**
 * Requests a mirror started on its remote legs (reads, and the remote parts of writes), which no
 * thread waits for: the watch that finds a leg late, as a waited-for request finds its leg late. A
 * leg is late once requests started on it are under way, it has not answered anything (its
 * {@link AnsweringDevices#lastAnswer}) for the leg timeout, and another leg of the set has answered
 * meanwhile or has nothing under way: a leg that goes on answering, even slowly, is slow, not gone,
 * and while every leg with requests under way is silent the silence is this node's or the whole
 * cluster's, not one leg's (the requests then fail by their connection's own time-out and are served
 * again the waited-for way).
 *
 * <p>{@link #late} decides, given the clock; it is called every half leg timeout. A leg is marked
 * the first time a look finds requests under way on it, with its last answer then; it is late when
 * a later look, at least the timeout after the mark, finds requests still under way and no answer
 * since the mark. A request under way at the mark has then been under way for the timeout at least
 * (nothing answered), and one started after the mark cannot make its leg late sooner: the mark
 * moves with each answer and goes when nothing is under way.
 */
final class LegWatch {
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

    /** Requests under way on {@code leg}. */
    int underWay(int leg) {
        Watched watched = legs.get(leg);
        return watched == null ? 0 : watched.underWay.get();
    }

    /**
     * One look at {@code now} ({@link System#nanoTime()}'s scale, as {@code lastAnswer}'s): the legs
     * late, each with how long it has been silent since its mark, in nanoseconds. {@code inSet} are the
     * legs of the set, whose answers tell a late leg from a silent node. A leg found late is marked again
     * from now (if taking it out of the set fails, it is late again a timeout later, not at every look).
     */
    Map<Integer, Long> late(long now, long timeoutNanos, IntToLongFunction lastAnswer, Collection<Integer> inSet) {
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
            if (now - w.markAt >= timeoutNanos && anotherAnswered(entry.getKey(), w.markAt, lastAnswer, inSet)) {
                late.put(entry.getKey(), now - w.markAt);
                w.markAt = now;
            }
        }
        return late;
    }

    /** Another leg of the set answered since {@code since}, or has nothing under way (nothing says it is silent too). */
    private boolean anotherAnswered(int leg, long since, IntToLongFunction lastAnswer, Collection<Integer> inSet) {
        for (int other : inSet) {
            if (other != leg && (underWay(other) == 0 || lastAnswer.applyAsLong(other) - since > 0)) {
                return true;
            }
        }
        return false;
    }
}
