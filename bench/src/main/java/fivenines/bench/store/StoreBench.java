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
 * latency over 2,000 sequential writes, and lock acquire+release throughput with 16 clients.
 * Optional arguments: the lock phase in seconds, and "fivenines" or "zookeeper" to run one side.
 */
public final class StoreBench {
    static final int WARMUP = 3000;
    static final int WRITES = 2000;
    static final int CLIENTS = 16;

    private StoreBench() {
    }

    public static void main(String[] args) throws Exception {
        Duration lockDuration = Duration.ofSeconds(args.length > 0 ? Integer.parseInt(args[0]) : 10);
        String only = args.length > 1 ? args[1] : "";
        StoreResult ours = null;
        StoreResult theirs = null;
        if (!only.equals("zookeeper")) {
            try (var cluster = new FiveninesCluster()) {
                var latency = LatencySummary.ofNanos(FiveninesWorkload.commitLatencies(cluster.leader(), WARMUP, WRITES));
                ours = new StoreResult(latency, FiveninesWorkload.lockThroughput(cluster.clients, CLIENTS, lockDuration));
            }
        }
        if (!only.equals("fivenines")) {
            try (var ensemble = new ZooKeeperEnsemble()) {
                var latency = LatencySummary.ofNanos(ZooKeeperWorkload.commitLatencies(ensemble, WARMUP, WRITES));
                theirs = new StoreResult(latency, ZooKeeperWorkload.lockThroughput(ensemble, CLIENTS, lockDuration));
            }
        }
        System.out.println();
        System.out.println(new Table("zookeeper").storeRows(ours, theirs).render());
        System.out.println("goals: commit p50 <= 2 ms, >= 5000 lock ops/s (two per pair), not slower than ZooKeeper; "
            + "ratios above 1 favour fivenines");
    }
}
