package fivenines.store;

import fivenines.model.command.Command;
import fivenines.model.state.Result;
import fivenines.model.state.StateMachine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiFunction;

/**
 * Group commit for the commands that may share a log entry ({@link StateMachine#batchKey}: config
 * changes and lock commands). A command submitted while fewer than {@code maxInFlight} entries of
 * this replica are on their way is sent at once, alone, exactly as without batching; one submitted
 * while they are waits, and when one of them is done, everything waiting (up to {@code maxBatch}
 * commands) goes as one entry. So an idle store adds no wait, and a busy one pays the cost of a Raft
 * entry (a client call over TLS, the leader's append and sync, two followers' appends, an apply on
 * each replica) once per batch instead of once per command.
 *
 * <p>One entry never holds two commands on one lock (its index is each grant's fencing token): such
 * a command waits for the next entry, the others go on. The state machine checks the same rule and
 * refuses a batch that breaks it, so it holds whoever builds the entries.
 *
 * <p>Failures: an entry that failed failed for every command in it, each told in its own words
 * ({@code translate}): refused means none of them happened, no answer means each may have.
 */
final class CommandBatcher {
    /** Sends commands as one entry; completes with their results in order once applied here, or fails for all of them. */
    interface Sender {
        CompletableFuture<List<Result>> send(List<Command> commands);
    }

    private record Pending(Command command, String key, CompletableFuture<Result> result) {
    }

    private final Sender sender;
    private final BiFunction<Command, Throwable, Throwable> translate;
    private final int maxInFlight;
    private final int maxBatch;
    private final ArrayDeque<Pending> waiting = new ArrayDeque<>();
    private int inFlight;
    private long entries;
    private long commands;

    CommandBatcher(Sender sender, BiFunction<Command, Throwable, Throwable> translate, int maxInFlight, int maxBatch) {
        if (maxInFlight < 1 || maxBatch < 1) {
            throw new IllegalArgumentException("a batcher needs at least one entry in flight and one command per entry");
        }
        this.sender = sender;
        this.translate = translate;
        this.maxInFlight = maxInFlight;
        this.maxBatch = maxBatch;
    }

    /** Whether a command may go through here (the others are sent alone, as they are). */
    static boolean batches(Command command) {
        return StateMachine.batchKey(command) != null;
    }

    CompletableFuture<Result> submit(Command command) {
        String key = StateMachine.batchKey(command);
        if (key == null) {
            throw new IllegalArgumentException(command.getClass().getSimpleName() + " is not a command that is batched");
        }
        var pending = new Pending(command, key, new CompletableFuture<>());
        synchronized (this) {
            waiting.addLast(pending);
        }
        sendWhatWaits();
        return pending.result();
    }

    /** Entries sent and the commands they held, so far. */
    synchronized long[] counts() {
        return new long[] {entries, commands};
    }

    private void sendWhatWaits() {
        while (true) {
            List<Pending> batch;
            synchronized (this) {
                if (inFlight >= maxInFlight || waiting.isEmpty()) {
                    return;
                }
                batch = take();
                inFlight++;
                entries++;
                commands += batch.size();
            }
            CompletableFuture<List<Result>> sent;
            try {
                sent = sender.send(batch.stream().map(Pending::command).toList());
            } catch (RuntimeException e) {
                sent = CompletableFuture.failedFuture(e);
            }
            sent.whenComplete((results, error) -> {
                synchronized (this) {
                    inFlight--;
                }
                settle(batch, results, error);
                sendWhatWaits();
            });
        }
    }

    /** The commands for the next entry: those waiting, in order, at most one per lock. Under this. */
    private List<Pending> take() {
        var batch = new ArrayList<Pending>();
        var locks = new HashSet<String>();
        for (Iterator<Pending> it = waiting.iterator(); it.hasNext() && batch.size() < maxBatch; ) {
            Pending next = it.next();
            if (next.key().equals("config") || locks.add(next.key())) {
                batch.add(next);
                it.remove();
            }
        }
        return batch;
    }

    private void settle(List<Pending> batch, List<Result> results, Throwable error) {
        if (error == null && (results == null || results.size() != batch.size())) {
            error = new IllegalStateException("an entry of " + batch.size() + " commands came back with "
                + (results == null ? "no" : results.size()) + " results");
        }
        for (int i = 0; i < batch.size(); i++) {
            Pending pending = batch.get(i);
            if (error != null) {
                pending.result().completeExceptionally(translate.apply(pending.command(), error));
            } else {
                pending.result().complete(results.get(i));
            }
        }
    }
}
