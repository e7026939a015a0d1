package fivenines.bench.store;

import fivenines.bench.zookeeper.ZooKeeperEnsemble;
import fivenines.bench.zookeeper.ZooKeeperWorkload;

import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;

/**
 * The store benchmark: three fivenines agents and a three-server ZooKeeper ensemble on
 * loopback, in the same run, one after the other. Config-set commit latency over 2,000
 * sequential writes (after a warm-up), and lock acquire+release throughput with 16 clients.
 */
public final class StoreBench {
    static final int WARMUP = 3000;
    static final int WRITES = 2000;
    static final int CLIENTS = 16;

    private StoreBench() {
    }

    public static void main(String[] args) throws Exception {
        Duration lockDuration = Duration.ofSeconds(args.length > 0 ? Integer.parseInt(args[0]) : 10);
        long[] ours;
        double oursLocks;
        try (var cluster = new FiveninesCluster()) {
            ours = FiveninesWorkload.commitLatencies(cluster.leader(), WARMUP, WRITES);
            oursLocks = FiveninesWorkload.lockThroughput(cluster.clients, CLIENTS, lockDuration);
        }
        long[] theirs;
        double theirLocks;
        try (var ensemble = new ZooKeeperEnsemble()) {
            theirs = ZooKeeperWorkload.commitLatencies(ensemble, WARMUP, WRITES);
            theirLocks = ZooKeeperWorkload.lockThroughput(ensemble, CLIENTS, lockDuration);
        }
        Arrays.sort(ours);
        Arrays.sort(theirs);
        System.out.println();
        System.out.printf(Locale.ROOT, "%-34s %12s %12s %10s%n", "measure", "fivenines", "zookeeper", "ratio");
        row("config-set commit p50 (ms)", percentile(ours, 50), percentile(theirs, 50), true);
        row("config-set commit p99 (ms)", percentile(ours, 99), percentile(theirs, 99), true);
        row("lock acquire+release (pairs/s)", oursLocks, theirLocks, false);
        System.out.printf(Locale.ROOT, "%nfivenines goals: p50 <= 2 ms, >= 5000 lock ops/s (%.0f ops/s measured), not slower than ZooKeeper.%n",
            oursLocks * 2);
        System.out.println("Ratios are fivenines over ZooKeeper for throughput and ZooKeeper over fivenines for latency: above 1 is better.");
    }

    private static double percentile(long[] sorted, int p) {
        return sorted[Math.min(sorted.length - 1, sorted.length * p / 100)] / 1e6;
    }

    private static void row(String measure, double ours, double theirs, boolean lowerIsBetter) {
        double ratio = lowerIsBetter ? theirs / ours : ours / theirs;
        System.out.printf(Locale.ROOT, "%-34s %12.2f %12.2f %9.2fx%n", measure, ours, theirs, ratio);
    }
}
