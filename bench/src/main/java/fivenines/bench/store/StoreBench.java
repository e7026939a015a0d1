package fivenines.bench.store;

import fivenines.bench.LatencySummary;
import fivenines.bench.StoreResult;
import fivenines.bench.Table;
import fivenines.bench.zookeeper.ZooKeeperEnsemble;
import fivenines.bench.zookeeper.ZooKeeperWorkload;

import java.time.Duration;

/**
 * The store benchmark: three fivenines agents and a three-server ZooKeeper ensemble on
 * loopback, in the same run, one after the other, with the same warm-up. Config-set commit
 * latency over 2,000 sequential writes; lock acquire+release throughput with 16 clients, each
 * on its own lock; and 64 clients mixing config sets and gets as fast as they are answered.
 * The lock and mixed phases each run twice, the first time unmeasured: each takes code paths the
 * sequential writes do not (commands forwarded by followers, reads), and an agent's JIT compiler
 * was still compiling them through the measured run (a third of the agents' CPU in C2's threads).
 * Optional arguments: the lock and mixed phases in seconds, and "fivenines" or "zookeeper" to
 * run one side. Progress goes to standard error, the table to standard output.
 */
public final class StoreBench {
    static final int WARMUP = 3000;
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
        if (!only.equals("zookeeper")) {
            try (var cluster = new FiveninesCluster()) {
                progress("fivenines: three agents up; commit phase");
                var leader = cluster.leader();
                FiveninesWorkload.commitLatencies(leader, WARMUP, 0);
                long idleStart = cluster.agentsCpuNanos();
                long idleFrom = System.nanoTime();
                Thread.sleep(3000);
                double idlePerSecond = (cluster.agentsCpuNanos() - idleStart) / ((System.nanoTime() - idleFrom) / 1e9);
                long cpuBefore = cluster.agentsCpuNanos();
                long timedFrom = System.nanoTime();
                var latency = LatencySummary.ofNanos(FiveninesWorkload.commitLatencies(leader, 0, WRITES));
                long cpuAfter = cluster.agentsCpuNanos();
                if (idleStart >= 0 && cpuBefore >= 0 && cpuAfter >= 0) {
                    double seconds = (System.nanoTime() - timedFrom) / 1e9;
                    cpuPerCommit = String.format("fivenines: the three agents' CPU per sequential commit: %.2f ms"
                            + " (%.2f ms less their idle CPU, %.0f ms/s when idle)", (cpuAfter - cpuBefore) / 1e6 / WRITES,
                        (cpuAfter - cpuBefore - idlePerSecond * seconds) / 1e6 / WRITES, idlePerSecond / 1e6);
                    progress(cpuPerCommit);
                }
                progress("fivenines: lock phase (warm-up, then measured)");
                FiveninesWorkload.lockThroughput(cluster.clients, CLIENTS, phase);
                double locks = FiveninesWorkload.lockThroughput(cluster.clients, CLIENTS, phase);
                progress("fivenines: mixed phase (warm-up, then measured)");
                FiveninesWorkload.mixed(cluster.clients, MIXED_CLIENTS, MIXED_KEYS, phase);
                var mixed = FiveninesWorkload.mixed(cluster.clients, MIXED_CLIENTS, MIXED_KEYS, phase);
                ours = new StoreResult(latency, locks, mixed);
                progress("fivenines: done");
            }
        }
        if (!only.equals("fivenines")) {
            try (var ensemble = new ZooKeeperEnsemble()) {
                progress("zookeeper: three servers up; commit phase");
                var latency = LatencySummary.ofNanos(ZooKeeperWorkload.commitLatencies(ensemble, WARMUP, WRITES));
                progress("zookeeper: lock phase (warm-up, then measured)");
                ZooKeeperWorkload.lockThroughput(ensemble, CLIENTS, phase);
                double locks = ZooKeeperWorkload.lockThroughput(ensemble, CLIENTS, phase);
                progress("zookeeper: mixed phase (warm-up, then measured)");
                ZooKeeperWorkload.mixed(ensemble, MIXED_CLIENTS, MIXED_KEYS, phase);
                var mixed = ZooKeeperWorkload.mixed(ensemble, MIXED_CLIENTS, MIXED_KEYS, phase);
                theirs = new StoreResult(latency, locks, mixed);
                progress("zookeeper: done");
            }
        }
        System.out.println();
        System.out.println(new Table("zookeeper").storeRows(ours, theirs).render());
        if (cpuPerCommit != null) {
            System.out.println(cpuPerCommit + " (all their threads, from the OS)");
        }
        System.out.println("goals: commit p50 <= 2 ms, >= 5000 lock ops/s (two per pair), not slower than ZooKeeper; "
            + MIXED_CLIENTS + " mixed clients p99 <= 20 ms; ratios above 1 favour fivenines. "
            + "Mixed gets: linearizable on fivenines, ZooKeeper's plain getData (no sync)");
    }

    private static void progress(String what) {
        System.err.printf("%tT %s%n", System.currentTimeMillis(), what);
    }
}
