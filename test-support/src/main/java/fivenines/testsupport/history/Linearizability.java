package fivenines.testsupport.history;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * Checks that a history is linearizable against a model: that every operation can be given one
 * instant between its invocation and its completion such that the operations, run in the order of
 * those instants, produce what was seen. The search is Wing and Gong's, with Lowe's memo of
 * (operations linearized, state) pairs already tried; histories are split into independent
 * partitions (one per key) first, as Porcupine does. Operations that certainly did not happen are
 * left out; those without an answer may take effect at any time after their invocation (or, placed
 * after everything else, never).
 */
public final class Linearizability {
    private Linearizability() {
    }

    /** The answer for one partition. */
    public record Verdict(String partition, boolean linearizable, int operations, List<Op> stuckAt, long statesTried) {
        @Override
        public String toString() {
            return partition + ": " + (linearizable ? "linearizable" : "NOT linearizable") + " (" + operations
                + " operations, " + statesTried + " states tried)" + (linearizable ? "" : "; no order explains "
                + stuckAt);
        }
    }

    /** Checks every partition; the history's operations are split by {@code partition}. */
    public static <S> List<Verdict> check(List<Op> history, Model<S> model, Function<Op, String> partition) {
        Map<String, List<Op>> parts = new LinkedHashMap<>();
        for (Op op : history) {
            if (op.outcome() != Op.Outcome.FAILED) {
                parts.computeIfAbsent(partition.apply(op), k -> new ArrayList<>()).add(op);
            }
        }
        var verdicts = new ArrayList<Verdict>();
        parts.forEach((key, ops) -> verdicts.add(checkOne(key, ops, model)));
        return verdicts;
    }

    /** Checks the whole history as one partition. */
    public static <S> Verdict check(List<Op> history, Model<S> model) {
        return check(history, model, op -> "all").stream().findFirst()
            .orElse(new Verdict("all", true, 0, List.of(), 0));
    }

    /** A call or a return in the doubly linked list of events the search walks and lifts entries from. */
    private static final class Entry {
        final Op op;
        final int index;
        final boolean call;
        Entry match;
        Entry prev;
        Entry next;

        Entry(Op op, int index, boolean call) {
            this.op = op;
            this.index = index;
            this.call = call;
        }

        /** Takes the call and its return out of the list. */
        void lift() {
            prev.next = next;
            if (next != null) {
                next.prev = prev;
            }
            match.prev.next = match.next;
            if (match.next != null) {
                match.next.prev = match.prev;
            }
        }

        /** Puts them back, in the reverse order of {@link #lift}. */
        void unlift() {
            match.prev.next = match;
            if (match.next != null) {
                match.next.prev = match;
            }
            prev.next = this;
            if (next != null) {
                next.prev = this;
            }
        }
    }

    private record Tried<S>(BitSet linearized, S state) {
    }

    private record Frame<S>(Entry entry, S state) {
    }

    private static <S> Verdict checkOne(String name, List<Op> ops, Model<S> model) {
        var events = new ArrayList<Entry>();
        for (int i = 0; i < ops.size(); i++) {
            Op op = ops.get(i);
            var call = new Entry(op, i, true);
            var ret = new Entry(op, i, false);
            call.match = ret;
            events.add(call);
            events.add(ret);
        }
        // by time; at the same instant a call goes first (the two operations are then concurrent)
        events.sort(Comparator.comparingLong((Entry e) -> e.call ? e.op.invoked() : e.op.effectiveCompletion())
            .thenComparing(e -> !e.call));
        var head = new Entry(null, -1, true);
        Entry last = head;
        for (Entry e : events) {
            last.next = e;
            e.prev = last;
            last = e;
        }

        S state = model.initial();
        var linearized = new BitSet(ops.size());
        Set<Tried<S>> tried = new HashSet<>();
        var stack = new ArrayDeque<Frame<S>>();
        Entry entry = head.next;
        List<Op> deepest = List.of();
        int deepestCount = -1;
        while (head.next != null) {
            if (entry.call) {
                Optional<S> next = model.step(state, entry.op);
                if (next.isPresent()) {
                    var after = (BitSet) linearized.clone();
                    after.set(entry.index);
                    if (tried.add(new Tried<>(after, next.get()))) {
                        stack.push(new Frame<>(entry, state));
                        state = next.get();
                        linearized = after;
                        entry.lift();
                        entry = head.next;
                        continue;
                    }
                }
                entry = entry.next;
            } else {
                // an operation completed before any order could place it: undo the last choice
                if (linearized.cardinality() > deepestCount) {
                    deepestCount = linearized.cardinality();
                    deepest = pendingAt(head, entry);
                }
                if (stack.isEmpty()) {
                    return new Verdict(name, false, ops.size(), deepest, tried.size());
                }
                Frame<S> frame = stack.pop();
                state = frame.state();
                linearized.clear(frame.entry().index);
                frame.entry().unlift();
                entry = frame.entry().next;
            }
        }
        return new Verdict(name, true, ops.size(), List.of(), tried.size());
    }

    /** The operations still to be placed up to and including the one that completed first. */
    private static List<Op> pendingAt(Entry head, Entry stuck) {
        var pending = new ArrayList<Op>();
        for (Entry e = head.next; e != null && e != stuck.next; e = e.next) {
            if (e.call) {
                pending.add(e.op);
            }
        }
        return pending;
    }
}
