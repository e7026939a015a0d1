package fivenines.store;

import fivenines.model.command.AcquireLock;
import fivenines.model.command.ChangeConfig;
import fivenines.model.command.Command;
import fivenines.model.command.ReleaseLock;
import fivenines.model.command.RenewLease;
import fivenines.model.lock.LockMode;
import fivenines.model.state.Result;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CommandBatcherTest {
    /** An entry the test answers by hand. */
    private record Sent(List<Command> commands, CompletableFuture<List<Result>> results) {
        void answer(long index) {
            var list = new ArrayList<Result>();
            commands.forEach(c -> list.add(new Result.Applied(index, c)));
            results.complete(list);
        }
    }

    private final List<Sent> sent = new ArrayList<>();
    private final CommandBatcher batcher = new CommandBatcher(commands -> {
        var entry = new Sent(commands, new CompletableFuture<>());
        sent.add(entry);
        return entry.results();
    }, (command, error) -> new StoreException(command.getClass().getSimpleName() + ": " + error.getMessage(), true, error), 1, 4);

    private static Command set(String key) {
        return ChangeConfig.set(key, "v");
    }

    private static Command acquire(String lock, String owner) {
        return new AcquireLock(lock, LockMode.EX, "node0", owner, false);
    }

    @Test
    void aCommandOnAnIdleStoreIsSentAtOnceAlone() {
        var result = batcher.submit(set("a"));
        assertEquals(1, sent.size());
        assertEquals(List.of(set("a")), sent.getFirst().commands());
        sent.getFirst().answer(7);
        assertEquals(set("a"), ((Result.Applied) result.join()).value());
    }

    @Test
    void commandsSubmittedWhileAnEntryIsOnItsWayGoTogetherInTheNextEachWithItsOwnResult() {
        var first = batcher.submit(set("a"));
        var waiting = List.of(batcher.submit(set("b")), batcher.submit(acquire("l1", "x")), batcher.submit(set("c")));
        assertEquals(1, sent.size(), "one entry in flight at most here: the others wait");
        sent.get(0).answer(5);
        assertTrue(first.isDone());
        assertEquals(2, sent.size());
        assertEquals(List.of(set("b"), acquire("l1", "x"), set("c")), sent.get(1).commands(), "in the order submitted");
        sent.get(1).answer(6);
        assertEquals(set("b"), ((Result.Applied) waiting.get(0).join()).value());
        assertEquals(acquire("l1", "x"), ((Result.Applied) waiting.get(1).join()).value());
        assertEquals(set("c"), ((Result.Applied) waiting.get(2).join()).value());
        assertEquals(2, batcher.counts()[0]);
        assertEquals(4, batcher.counts()[1]);
    }

    @Test
    void noEntryHoldsTwoCommandsOnOneLockAndNoneMoreThanTheLimit() {
        batcher.submit(set("a"));
        batcher.submit(acquire("l", "x"));
        batcher.submit(new ReleaseLock("l", "node0", "x"));
        batcher.submit(acquire("l", "y"));
        batcher.submit(acquire("m", "z"));
        for (int i = 0; i < 6; i++) {
            batcher.submit(set("k" + i));
        }
        sent.get(0).answer(1);
        assertEquals(List.of(acquire("l", "x"), acquire("m", "z"), set("k0"), set("k1")), sent.get(1).commands(),
            "the release and the second acquire of l wait; at most four commands");
        sent.get(1).answer(2);
        assertEquals(List.of(new ReleaseLock("l", "node0", "x"), set("k2"), set("k3"), set("k4")), sent.get(2).commands());
        sent.get(2).answer(3);
        assertEquals(List.of(acquire("l", "y"), set("k5")), sent.get(3).commands());
        for (Sent entry : sent) {
            assertEquals(null, fivenines.model.state.StateMachine.batchRefusal(entry.commands()), "the state machine takes each entry");
        }
    }

    @Test
    void anEntryThatFailedFailsEachOfItsCommandsInItsOwnWordsAndTheNextEntryStillGoes() {
        batcher.submit(set("a"));
        var b = batcher.submit(set("b"));
        var lock = batcher.submit(acquire("l", "x"));
        sent.get(0).answer(1);
        var later = batcher.submit(set("c"));
        sent.get(1).results().completeExceptionally(new java.util.concurrent.TimeoutException("no answer"));
        var failure = assertThrows(CompletionException.class, b::join);
        assertTrue(failure.getCause().getMessage().startsWith("ChangeConfig: "), failure.getCause().getMessage());
        var lockFailure = assertThrows(CompletionException.class, lock::join);
        assertTrue(lockFailure.getCause().getMessage().startsWith("AcquireLock: "), lockFailure.getCause().getMessage());
        assertInstanceOf(StoreException.class, lockFailure.getCause());
        assertEquals(3, sent.size(), "what waited behind the failed entry is sent");
        assertFalse(later.isDone());
        sent.get(2).answer(3);
        assertTrue(later.join().applied());
    }

    @Test
    void anEntryAnsweredWithTooFewResultsFailsItsCommandsInsteadOfGivingThemAnothersResult() {
        batcher.submit(set("a"));
        var b = batcher.submit(set("b"));
        var c = batcher.submit(set("c"));
        sent.get(0).answer(1);
        sent.get(1).results().complete(List.of(new Result.Applied(2, "only one")));
        assertThrows(CompletionException.class, b::join);
        assertThrows(CompletionException.class, c::join);
    }

    @Test
    void aCommandThatIsNotBatchedIsRefusedAndNothingIsSent() {
        var lease = new RenewLease("node0");
        assertFalse(CommandBatcher.batches(lease));
        assertThrows(IllegalArgumentException.class, () -> batcher.submit(lease));
        assertTrue(sent.isEmpty());
    }
}
