package fivenines.manager.fence;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

/**
 * Fences a node through its methods, in order, as fenced did: a method succeeds when each of its
 * devices was switched off ({@code action=off}, exit 0) and then reports off ({@code action=status},
 * exit 2); any other exit, or our timeout, fails the method and the next is tried. All methods are
 * tried {@code rounds} times. A manual method ({@code fence_manual}) is not run: the node then
 * waits for an operator's {@code nines fence ack}. Every run is recorded.
 */
public final class Fencer {
    /** Exit status of {@code action=status} for a node that is off (FenceAgentAPI: 0 on, 1 error, 2 off). */
    static final int STATUS_OFF = 2;

    private final FenceAgent agents;
    private final InstantSource clock;
    private final Duration timeout;
    private final int rounds;

    public Fencer(FenceAgent agents, InstantSource clock, Duration timeout, int rounds) {
        if (rounds < 1) {
            throw new IllegalArgumentException("fencing needs at least one round, not " + rounds);
        }
        this.agents = agents;
        this.clock = clock;
        this.timeout = timeout;
        this.rounds = rounds;
    }

    public enum Status { FENCED, FAILED, WAITING_FOR_ACK }

    /** One run of one agent. */
    public record Attempt(Instant at, String node, int round, String method, String device, String action,
                          boolean ok, String result) {
        @Override
        public String toString() {
            return at + " " + node + " round " + round + " method " + method + " device " + device + " " + action + ": "
                + (ok ? "ok" : "FAILED") + " (" + result + ")";
        }
    }

    public record Outcome(Status status, String why, List<Attempt> attempts) {
    }

    public Outcome fence(String node, List<FenceMethod> methods) {
        var attempts = new ArrayList<Attempt>();
        if (methods.isEmpty()) {
            return new Outcome(Status.FAILED, "node '" + node + "' has no fence method; add one ('nines fence method add "
                + node + " ...'), or acknowledge by hand that it is off ('nines fence ack " + node + "')", attempts);
        }
        var failures = new ArrayList<String>();
        for (int round = 1; round <= rounds; round++) {
            for (FenceMethod method : methods) {
                if (method.manual()) {
                    return new Outcome(Status.WAITING_FOR_ACK, "method '" + method.name() + "' is manual fencing: make sure '"
                        + node + "' is off (power it off, or pull its cables), then run 'nines fence ack " + node + "'"
                        + (failures.isEmpty() ? "" : "; before it: " + String.join("; ", failures)), attempts);
                }
                String failure = run(node, round, method, attempts);
                if (failure == null) {
                    return new Outcome(Status.FENCED, "method '" + method.name() + "' switched '" + node + "' off", attempts);
                }
                failures.add("method '" + method.name() + "': " + failure);
            }
        }
        return new Outcome(Status.FAILED, "every fence method of '" + node + "' failed " + rounds + " time(s): "
            + String.join("; ", failures) + "; fix the device, or acknowledge by hand that it is off ('nines fence ack "
            + node + "')", attempts);
    }

    /**
     * {@code nines fence test}: asks every device of every method for the node's power status
     * ({@code action=status}) and changes nothing. A device answers when it exits 0 (on) or 2 (off).
     */
    public List<Attempt> check(String node, List<FenceMethod> methods) {
        var attempts = new ArrayList<Attempt>();
        for (FenceMethod method : methods) {
            for (FenceMethod.Step step : method.steps()) {
                if (step.device().manual()) {
                    attempts.add(new Attempt(clock.instant(), node, 1, method.name(), step.device().name(), "status", true,
                        "manual fencing: an operator acknowledges ('nines fence ack " + node + "')"));
                    continue;
                }
                var options = new HashMap<>(step.device().options());
                options.putAll(step.nodeOptions());
                options.put("action", "status");
                FenceAgent.Run run = agents.run(step.device().agent(), options, timeout);
                boolean ok = run.ran() && (run.exit() == 0 || run.exit() == STATUS_OFF);
                String result = describe(run) + (ok ? (run.exit() == 0 ? " (on)" : " (off)") : "");
                attempts.add(new Attempt(clock.instant(), node, 1, method.name(), step.device().name(), "status", ok, result));
            }
        }
        return attempts;
    }

    /** Runs one method; null when it fenced the node, otherwise why not. */
    private String run(String node, int round, FenceMethod method, List<Attempt> attempts) {
        for (String action : List.of("off", "status")) {
            for (FenceMethod.Step step : method.steps()) {
                var options = new HashMap<>(step.device().options());
                options.putAll(step.nodeOptions());
                options.put("action", action);
                FenceAgent.Run run = agents.run(step.device().agent(), options, timeout);
                String result = describe(run);
                boolean ok = run.ran() && run.exit() == (action.equals("off") ? 0 : STATUS_OFF);
                if (run.ran() && action.equals("status") && run.exit() == 0) {
                    result = "the device says the node is still on; " + result;
                }
                attempts.add(new Attempt(clock.instant(), node, round, method.name(), step.device().name(), action, ok, result));
                if (!ok) {
                    return "device '" + step.device().name() + "' (" + step.device().agent() + ") " + action + ": " + result;
                }
            }
        }
        return null;
    }

    private String describe(FenceAgent.Run run) {
        if (run.problem() != null) {
            return run.problem();
        }
        String words = run.output().isBlank() ? "" : ": " + lastLine(run.output());
        if (run.timedOut()) {
            return "no answer within " + timeout.toMillis() + " ms; killed" + words;
        }
        return "exit " + run.exit() + " after " + run.took().toMillis() + " ms" + words;
    }

    private static String lastLine(String output) {
        var lines = output.strip().lines().toList();
        return lines.isEmpty() ? "" : lines.getLast();
    }
}
