package fivenines.bench.store;

import fivenines.bench.ChildCpu;
import fivenines.bench.LatencySummary;
import fivenines.bench.StoreResult;
import fivenines.bench.Table;
import fivenines.bench.zookeeper.ZooKeeperEnsemble;
import fivenines.bench.zookeeper.ZooKeeperWorkload;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The store benchmark: three fivenines agents and a three-server ZooKeeper ensemble on
 * loopback, in the same run, one after the other, with the same warm-up. Config-set commit
 * latency over 2,000 sequential writes; lock acquire+release throughput with 16 clients, each
 * on its own lock; and 64 clients mixing config sets and gets as fast as they are answered.
 * Each phase is warmed up first, on both systems by the same rule: rounds of the phase, unmeasured,
 * until the servers' JIT compilers take less than a tenth of the servers' CPU in a round (or a
 * number of rounds has run). Measured with a fixed warm-up of 3,000 writes, the agents' compiler
 * threads still took 44 % of their CPU during the sequential writes, and a third during the lock
 * and mixed phases: the bench measured the agents' warm-up, not the agents. The compilers' share
 * during each measured phase is printed for both systems.
 * Optional arguments: the lock and mixed phases in seconds, and "fivenines" or "zookeeper" to
 * run one side. Progress goes to standard error, the table to standard output.
 */
public final class StoreBench {
    /** Writes per warm-up round of the commit phase, and at most this many rounds. */
    static final int WARMUP_ROUND = 2000;
    static final int WARMUP_ROUNDS = 15;
    /** At most this many warm-up rounds of the lock and of the mixed phase, each as long as the phase. */
    static final int PHASE_WARMUP_ROUNDS = 6;
    /** Warm when the servers' compilers took less than this share of their CPU in the last round. */
    static final double SETTLED = 0.10;
    static final int WRITES = 2000;
    static final int CLIENTS = 16;
    static final int MIXED_CLIENTS = 64;
    static final int MIXED_KEYS = 16;

    private StoreBench() {
    }

    public static void main(String[] args) throws Exception {
        Duration phase = Duration.ofSeconds(args.length > 0 ? Integer.parseInt(args[0]) : 10);
        String only = args.length > 1 ? args[1] : "";
        StoreResult ours = null;
        StoreResult theirs = null;
        String cpuPerCommit = null;
        var compilers = new ArrayList<String>();
        if (!only.equals("zookeeper")) {
            try (var cluster = new FiveninesCluster()) {
                progress("fivenines: three agents up; commit phase");
                var leader = cluster.leader();
                warmUp("fivenines", "commit", WARMUP_ROUNDS, () -> FiveninesWorkload.commitLatencies(leader, WARMUP_ROUND, 0));
                var idleStart = ChildCpu.now();
                long idleFrom = System.nanoTime();
                Thread.sleep(3000);
                double idlePerSecond = ChildCpu.now().minus(idleStart).totalNanos() / ((System.nanoTime() - idleFrom) / 1e9);
                long timedFrom = System.nanoTime();
                var measured = new Measured();
                var latency = LatencySummary.ofNanos(measured.run(() -> FiveninesWorkload.commitLatencies(leader, 0, WRITES)));
                double seconds = (System.nanoTime() - timedFrom) / 1e9;
                long commitCpu = measured.last().totalNanos();
                cpuPerCommit = String.format("fivenines: the three agents' CPU per sequential commit: %.2f ms"
                        + " (%.2f ms less their idle CPU, %.0f ms/s when idle)", commitCpu / 1e6 / WRITES,
                    (commitCpu - idlePerSecond * seconds) / 1e6 / WRITES, idlePerSecond / 1e6);
                progress(cpuPerCommit);
                progress("fivenines: lock phase (warm-up, then measured)");
                warmUp("fivenines", "lock", PHASE_WARMUP_ROUNDS, () -> FiveninesWorkload.lockThroughput(cluster.clients, CLIENTS, phase));
                double locks = measured.run(() -> FiveninesWorkload.lockThroughput(cluster.clients, CLIENTS, phase));
                progress("fivenines: mixed phase (warm-up, then measured)");
                warmUp("fivenines", "mixed", PHASE_WARMUP_ROUNDS,
                    () -> FiveninesWorkload.mixed(cluster.clients, MIXED_CLIENTS, MIXED_KEYS, phase));
                var mixed = measured.run(() -> FiveninesWorkload.mixed(cluster.clients, MIXED_CLIENTS, MIXED_KEYS, phase));
                ours = new StoreResult(latency, locks, mixed);
                compilers.add("fivenines: " + measured);
                progress("fivenines: done");
            }
        }
        if (!only.equals("fivenines")) {
            try (var ensemble = new ZooKeeperEnsemble()) {
                progress("zookeeper: three servers up; commit phase");
                warmUp("zookeeper", "commit", WARMUP_ROUNDS, () -> ZooKeeperWorkload.commitLatencies(ensemble, WARMUP_ROUND, 0));
                var measured = new Measured();
                var latency = LatencySummary.ofNanos(measured.run(() -> ZooKeeperWorkload.commitLatencies(ensemble, 0, WRITES)));
                progress("zookeeper: lock phase (warm-up, then measured)");
                warmUp("zookeeper", "lock", PHASE_WARMUP_ROUNDS, () -> ZooKeeperWorkload.lockThroughput(ensemble, CLIENTS, phase));
                double locks = measured.run(() -> ZooKeeperWorkload.lockThroughput(ensemble, CLIENTS, phase));
                progress("zookeeper: mixed phase (warm-up, then measured)");
                warmUp("zookeeper", "mixed", PHASE_WARMUP_ROUNDS,
                    () -> ZooKeeperWorkload.mixed(ensemble, MIXED_CLIENTS, MIXED_KEYS, phase));
                var mixed = measured.run(() -> ZooKeeperWorkload.mixed(ensemble, MIXED_CLIENTS, MIXED_KEYS, phase));
                theirs = new StoreResult(latency, locks, mixed);
                compilers.add("zookeeper: " + measured);
                progress("zookeeper: done");
            }
        }
        System.out.println();
        System.out.println(new Table("zookeeper").storeRows(ours, theirs).render());
        if (cpuPerCommit != null) {
            System.out.println(cpuPerCommit + " (all their threads, from the OS)");
        }
        compilers.forEach(System.out::println);
        System.out.println("goals: commit p50 <= 2 ms, >= 5000 lock ops/s (two per pair), not slower than ZooKeeper; "
            + MIXED_CLIENTS + " mixed clients p99 <= 20 ms; ratios above 1 favour fivenines. "
            + "Mixed gets: linearizable on fivenines, ZooKeeper's plain getData (no sync)");
    }

    /** One phase's work, run for its effect (warm-up) or its figures. */
    @FunctionalInterface
    interface Phase<T> {
        T run() throws Exception;
    }

    /**
     * Runs unmeasured rounds until the servers' compilers took less than {@link #SETTLED} of the
     * servers' CPU in one, or {@code maxRounds} have run; says what each round used.
     */
    static void warmUp(String system, String phase, int maxRounds, Phase<?> round) throws Exception {
        for (int i = 1; i <= maxRounds; i++) {
            var before = ChildCpu.now();
            round.run();
            var used = ChildCpu.now().minus(before);
            progress(system + ": " + phase + " warm-up round " + i + ": the servers used " + used);
            if (used.compilerShare() < SETTLED) {
                return;
            }
        }
        progress(system + ": " + phase + " phase measured with the compilers still busy after " + maxRounds + " warm-up rounds");
    }

    /** The servers' CPU over each measured phase, and what share of it their compilers took. */
    static final class Measured {
        private final List<ChildCpu> phases = new ArrayList<>();

        <T> T run(Phase<T> phase) throws Exception {
            var before = ChildCpu.now();
            T result = phase.run();
            phases.add(ChildCpu.now().minus(before));
            return result;
        }

        /** What the servers used during the last phase run. */
        ChildCpu last() {
            return phases.getLast();
        }

        @Override
        public String toString() {
            return "the servers' JIT compilers' share of their CPU while measured (commit, lock, mixed): "
                + String.join(", ", phases.stream().map(p -> String.format("%.0f %%", 100 * p.compilerShare())).toList());
        }
    }

    private static void progress(String what) {
        System.err.printf("%tT %s%n", System.currentTimeMillis(), what);
    }
}
