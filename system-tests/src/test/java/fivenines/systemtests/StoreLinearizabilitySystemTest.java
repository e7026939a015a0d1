package fivenines.systemtests;

import fivenines.testsupport.cluster.Lan;
import fivenines.testsupport.history.Linearizability;
import fivenines.testsupport.history.LockModel;
import fivenines.testsupport.history.Op;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * In the manner of Jepsen: clients on three real agents run random config and lock operations
 * while agents are killed, restarted, paused and cut off from each other (each agent in its own
 * network namespace on a bridge); the recorded history is checked for
 * linearizability. The short run is part of the suite; the long one (at least 100 faults) runs with
 * {@code -Dnines.faults.seconds=1200} (see the README).
 */
class StoreLinearizabilitySystemTest extends ClusterSystemTest {
    static final long SECONDS = Long.getLong("nines.faults.seconds", 45);
    private Lan lan;

    @AfterEach
    void removeNetwork() throws Exception {
        stopCluster(); // the agents first: a namespace goes only when nothing runs in it
        cluster = null;
        if (lan != null) {
            lan.close();
        }
    }

    @Test
    void configAndLocksStayLinearizableWhileAgentsAreKilledPausedAndPartitioned() throws Exception {
        lan = new Lan("st" + ProcessHandle.current().pid() % 10_000, (int) (ProcessHandle.current().pid() % 200) + 20, 3);
        cluster = TestCluster.ofThree(dir, lan);
        var first = cluster.agents.getFirst();
        // a node silent for 3 s is declared down and loses its locks: pauses and kills reach that
        Agents.client(first).put("/v1/config/cluster.dead_after_seconds", Map.of("value", "3"));
        var config = StoreFaultRun.initialConfig(first);
        long seed = Long.getLong("nines.faults.seed", System.nanoTime());
        var run = new StoreFaultRun(cluster, lan, seed);
        run.run(Duration.ofSeconds(SECONDS), 2, Duration.ofSeconds(SECONDS > 60 ? 7 : 6));

        var verdicts = new ArrayList<Linearizability.Verdict>();
        List<Op> configOps = List.copyOf(run.configOps);
        List<Op> lockOps = List.copyOf(run.lockOps);
        verdicts.add(Linearizability.check(configOps, config));
        verdicts.addAll(Linearizability.check(lockOps, new LockModel(), Op::key));

        var all = new ArrayList<Op>(configOps);
        all.addAll(lockOps);
        Map<Op.Outcome, Long> outcomes = all.stream().collect(Collectors.groupingBy(Op::outcome, Collectors.counting()));
        long violations = verdicts.stream().filter(v -> !v.linearizable()).count();
        var summary = new StringBuilder("store fault run (seed " + seed + ", " + SECONDS + " s): "
            + all.size() + " operations " + outcomes + ", " + run.faults.size() + " faults, " + violations
            + " violations; time without a leader after each fault (ms): " + run.leaderlessMillis + "\n");
        run.faults.forEach(f -> summary.append("  fault: ").append(f).append('\n'));
        verdicts.forEach(v -> summary.append("  ").append(v).append('\n'));
        System.out.println(summary);

        assertTrue(violations == 0, summary.toString());
        // the run is not vacuous: operations of every kind happened, and faults were injected
        assertTrue(run.faults.size() >= Math.max(3, SECONDS / 15), summary.toString());
        for (String function : List.of("get", "set", "cas", "acquire", "release")) {
            assertTrue(all.stream().anyMatch(op -> op.function().equals(function) && op.outcome() == Op.Outcome.OK),
                "no " + function + " completed: " + summary);
        }
        assertTrue(lockOps.stream().anyMatch(op -> op.function().equals("acquire") && Boolean.TRUE.equals(op.output())),
            "no lock was ever granted: " + summary);
    }
}
