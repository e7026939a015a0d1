package fivenines.bench.zookeeper;

import fivenines.bench.ClosedLoop;
import fivenines.bench.LatencySummary;
import fivenines.bench.StoreResult;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/** The store benchmark's shapes against ZooKeeper, through ZooKeeper's own client. */
public final class ZooKeeperWorkload {
    public static final int WARMUP = 200;
    public static final int WRITES = 2000;
    public static final int CLIENTS = 16;
    public static final Duration LOCK_DURATION = Duration.ofSeconds(10);

    private ZooKeeperWorkload() {
    }

    /** Both shapes with the benchmark's sizes; the lock phase lasts the given time. */
    public static StoreResult run(ZooKeeperEnsemble ensemble, Duration lockDuration) throws Exception {
        LatencySummary commit = LatencySummary.ofNanos(commitLatencies(ensemble, WARMUP, WRITES));
        return new StoreResult(commit, lockThroughput(ensemble, CLIENTS, lockDuration));
    }

    /**
     * Sequential setData on one znode through the leader (as the fivenines side writes through
     * its leader); each latency in nanoseconds, after a warm-up that is not recorded.
     */
    public static long[] commitLatencies(ZooKeeperEnsemble ensemble, int warmup, int count) throws Exception {
        try (ZooKeeper zooKeeper = ZooKeeperEnsemble.connect(ensemble.leader())) {
            createIfAbsent(zooKeeper, "/bench-key");
            for (int i = 0; i < warmup; i++) {
                zooKeeper.setData("/bench-key", ("warm-" + i).getBytes(StandardCharsets.UTF_8), -1);
            }
            long[] latencies = new long[count];
            for (int i = 0; i < count; i++) {
                byte[] value = ("v" + i).getBytes(StandardCharsets.UTF_8);
                long start = System.nanoTime();
                zooKeeper.setData("/bench-key", value, -1);
                latencies[i] = System.nanoTime() - start;
            }
            return latencies;
        }
    }

    /**
     * Clients, each its own session and the sessions spread over the servers, each taking and
     * dropping its own lock (create an ephemeral {@code /locks/client-i}, delete it) for the given
     * time; returns acquire+release pairs per second, all clients together.
     */
    public static double lockThroughput(ZooKeeperEnsemble ensemble, int clients, Duration duration) throws Exception {
        var sessions = new ArrayList<ZooKeeper>();
        try {
            for (int i = 0; i < clients; i++) {
                sessions.add(ZooKeeperEnsemble.connect(ensemble.server(i)));
            }
            createIfAbsent(sessions.getFirst(), "/locks");
            var stop = new AtomicBoolean();
            var pairs = new AtomicLong();
            try (var pool = Executors.newFixedThreadPool(clients, Thread.ofPlatform().name("zookeeper-lock-client-", 0).factory())) {
                List<Future<?>> futures = new ArrayList<>();
                long start = System.nanoTime();
                for (int i = 0; i < clients; i++) {
                    ZooKeeper session = sessions.get(i);
                    String path = "/locks/client-" + i;
                    futures.add(pool.submit(() -> {
                        while (!stop.get()) {
                            session.create(path, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
                            session.delete(path, -1);
                            pairs.incrementAndGet();
                        }
                        return null;
                    }));
                }
                Thread.sleep(duration.toMillis());
                stop.set(true);
                long elapsed = System.nanoTime() - start;
                for (Future<?> future : futures) {
                    future.get();
                }
                // Pairs finished after the stop are counted in the time they took, not dropped.
                return pairs.get() / (Math.max(elapsed, System.nanoTime() - start) / 1e9);
            }
        } finally {
            for (ZooKeeper session : sessions) {
                session.close();
            }
        }
    }

    private static void createIfAbsent(ZooKeeper zooKeeper, String path) throws KeeperException, InterruptedException {
        try {
            zooKeeper.create(path, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        } catch (KeeperException.NodeExistsException alreadyThere) {
            // an earlier run on the same ensemble made it
        }
    }

    /**
     * The fivenines side's mixed phase against ZooKeeper: sessions spread over the servers, each
     * alternating a setData and a getData on one of {@code keys} znodes. ZooKeeper serves getData
     * from the session's own server without a sync (sequentially consistent, not linearizable):
     * its usual read, and cheaper than the linearizable get the fivenines API answers.
     */
    public static StoreResult.MixedResult mixed(ZooKeeperEnsemble ensemble, int clients, int keys, Duration duration) throws Exception {
        var sessions = new ArrayList<ZooKeeper>();
        try {
            for (int i = 0; i < clients; i++) {
                sessions.add(ZooKeeperEnsemble.connect(ensemble.server(i)));
            }
            createIfAbsent(sessions.getFirst(), "/mixed");
            for (int k = 0; k < keys; k++) {
                createIfAbsent(sessions.getFirst(), "/mixed/key-" + k);
            }
            return ClosedLoop.run("zookeeper-mixed", clients, duration, (client, sequence) -> {
                ZooKeeper session = sessions.get(client);
                String path = "/mixed/key-" + (client + sequence / 2) % keys;
                if (sequence % 2 == 0) {
                    session.setData(path, ("c" + client + "-" + sequence).getBytes(StandardCharsets.UTF_8), -1);
                } else {
                    session.getData(path, false, null);
                }
            });
        } finally {
            for (ZooKeeper session : sessions) {
                session.close();
            }
        }
    }
}
