package fivenines.testsupport.history;

import fivenines.testsupport.history.ConfigModel.Cas;
import fivenines.testsupport.history.ConfigModel.Read;
import fivenines.testsupport.history.Op.Outcome;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The checker on small histories known to be linearizable and known not to be. */
class LinearizabilityTest {
    private final List<Op> history = new ArrayList<>();

    private void op(int process, String function, String key, Object input, Object output, long from, long to) {
        history.add(new Op(history.size(), process, function, key, input, output, from, to, Outcome.OK));
    }

    private void unknown(int process, String function, String key, Object input, long from) {
        history.add(new Op(history.size(), process, function, key, input, null, from, -1, Outcome.UNKNOWN));
    }

    private void failed(int process, String function, String key, Object input, long from, long to) {
        history.add(new Op(history.size(), process, function, key, input, null, from, to, Outcome.FAILED));
    }

    private boolean config() {
        return Linearizability.check(history, new ConfigModel(0, Map.of())).linearizable();
    }

    private List<Linearizability.Verdict> locks() {
        return Linearizability.check(history, new LockModel(), Op::key);
    }

    @Test
    void concurrentWritesAndAReadBetweenThemAreLinearizableInTheOrderTheVersionsTell() {
        op(1, "set", "k", "a", 2L, 0, 10);
        op(2, "set", "k", "b", 1L, 1, 9);
        op(3, "get", "k", null, new Read("a", 2), 11, 12);
        assertTrue(config());
    }

    @Test
    void aStaleReadIsCaught() {
        op(1, "set", "k", "a", 1L, 0, 1);
        op(1, "set", "k", "b", 2L, 2, 3);
        op(2, "get", "k", null, new Read("a", 1), 4, 5); // read after b was acknowledged, still sees a
        assertFalse(config());
    }

    @Test
    void aLostWriteIsCaught() {
        op(1, "set", "k", "a", 1L, 0, 1);
        op(2, "get", "k", null, new Read(null, 0), 2, 3); // acknowledged, then not there
        assertFalse(config());
    }

    @Test
    void aWriteWithoutAnAnswerMayHaveHappenedLaterButNotBeforeItWasInvoked() {
        op(1, "set", "k", "a", 1L, 0, 1);
        unknown(2, "set", "k", "b", 5);
        op(3, "get", "k", null, new Read("b", 2), 20, 21);
        assertTrue(config(), "the unanswered write explains the read");

        history.clear();
        op(3, "get", "k", null, new Read("b", 1), 0, 1);
        unknown(2, "set", "k", "b", 5);
        assertFalse(config(), "a read cannot see a write invoked after it completed");
    }

    @Test
    void aFailedOperationDidNotHappen() {
        failed(1, "set", "k", "a", 0, 1);
        op(2, "get", "k", null, new Read("a", 1), 2, 3);
        assertFalse(config());
    }

    @Test
    void compareAndSetConflictsOnlyWhenTheVersionMoved() {
        op(1, "set", "k", "a", 1L, 0, 1);
        op(2, "cas", "k", new Cas(1, "b"), 2L, 2, 3);
        op(3, "cas", "k", new Cas(1, "c"), ConfigModel.CONFLICT, 4, 5);
        op(3, "get", "k", null, new Read("b", 2), 6, 7);
        assertTrue(config());

        history.clear();
        op(1, "set", "k", "a", 1L, 0, 1);
        op(2, "cas", "k", new Cas(1, "b"), ConfigModel.CONFLICT, 2, 3); // nothing moved the version
        assertFalse(config());
    }

    @Test
    void twoExclusiveHoldersAtOnceAreCaughtPerLock() {
        op(1, "acquire", "L", "n1/p1", true, 0, 1);
        op(2, "acquire", "M", "n2/p2", true, 0, 1); // another lock: independent
        op(2, "acquire", "L", "n2/p2", true, 2, 3);
        var verdicts = locks();
        assertEquals(2, verdicts.size());
        assertFalse(verdicts.stream().filter(v -> v.partition().equals("L")).findFirst().orElseThrow().linearizable());
        assertTrue(verdicts.stream().filter(v -> v.partition().equals("M")).findFirst().orElseThrow().linearizable());
    }

    @Test
    void aLockLetGoWhenItsHoldersNodeWasDeclaredDownMayBeTakenByAnother() {
        op(1, "acquire", "L", "n1/p1", true, 0, 1);
        op(9, "expire", "L", "n1", null, 1, 5);
        op(2, "acquire", "L", "n2/p2", true, 6, 7);
        op(1, "release", "L", "n1/p1", false, 8, 9);
        assertTrue(locks().getFirst().linearizable());

        history.clear();
        op(1, "acquire", "L", "n1/p1", true, 0, 1);
        op(9, "expire", "L", "n3", null, 1, 5); // another node went down
        op(2, "acquire", "L", "n2/p2", true, 6, 7);
        assertFalse(locks().getFirst().linearizable());
    }

    @Test
    void aRefusedAcquireMeansTheLockWasHeld() {
        op(1, "acquire", "L", "n1/p1", false, 0, 1);
        assertFalse(locks().getFirst().linearizable(), "nobody held it");
    }

    /** Any history recorded from a real sequential run, each operation's interval around its real instant, passes. */
    @Property(tries = 60)
    void historiesOfASequentialRegisterWithOverlappingIntervalsAreLinearizable(@ForAll @IntRange(min = 1, max = 5000) int seed) {
        var random = new Random(seed);
        var model = new ConfigModel(0, Map.of());
        var state = model.initial();
        history.clear();
        int processes = 4;
        long[] free = new long[processes];
        for (int i = 0; i < 120; i++) {
            long instant = i * 10L;
            int process = random.nextInt(processes);
            long from = Math.max(free[process], instant - random.nextInt(40));
            long to = instant + random.nextInt(40);
            if (from > instant) {
                continue; // the process is busy: skip this one
            }
            String key = "k" + random.nextInt(2);
            Op op;
            switch (random.nextInt(4)) {
                case 0 -> op = new Op(i, process, "get", key, null,
                    new Read(state.values().get(key), state.version()), from, to, Outcome.OK);
                case 1 -> op = new Op(i, process, "set", key, "v" + i, state.version() + 1, from, to, Outcome.OK);
                case 2 -> {
                    long expected = random.nextBoolean() ? state.version() : state.version() - 1;
                    op = new Op(i, process, "cas", key, new Cas(expected, "c" + i),
                        expected == state.version() ? (Object) (state.version() + 1) : ConfigModel.CONFLICT, from, to, Outcome.OK);
                }
                default -> op = new Op(i, process, "set", key, "u" + i, null, from, -1, Outcome.UNKNOWN);
            }
            free[process] = to + 1;
            if (op.outcome() == Outcome.UNKNOWN) {
                free[process] = Long.MAX_VALUE / 2; // a process without an answer does nothing more
                if (random.nextBoolean()) {
                    history.add(op);
                    continue; // it did not happen
                }
            }
            state = model.step(state, op).orElseThrow();
            history.add(op);
        }
        var verdict = Linearizability.check(history, model);
        assertTrue(verdict.linearizable(), verdict.toString());
    }
}
