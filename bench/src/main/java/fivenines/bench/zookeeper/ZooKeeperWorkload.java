package fivenines.bench.zookeeper;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/** The benchmark's two shapes against ZooKeeper, with its own client. */
public final class ZooKeeperWorkload {
    private ZooKeeperWorkload() {
    }

    /** Sequential setData on one znode; each latency in nanoseconds, after a warm-up. */
    public static long[] commitLatencies(ZooKeeperEnsemble ensemble, int warmup, int count) throws Exception {
        try (ZooKeeper zooKeeper = ZooKeeperEnsemble.connect(ensemble.server(0))) {
            try {
                zooKeeper.create("/bench-key", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            } catch (KeeperException.NodeExistsException ignored) {
                // left by an earlier run of this ensemble
            }
            for (int i = 0; i < warmup; i++) {
                zooKeeper.setData("/bench-key", ("warm-" + i).getBytes(), -1);
            }
            long[] latencies = new long[count];
            for (int i = 0; i < count; i++) {
                long start = System.nanoTime();
                zooKeeper.setData("/bench-key", ("v" + i).getBytes(), -1);
                latencies[i] = System.nanoTime() - start;
            }
            return latencies;
        }
    }

    /**
     * Clients, each its own session spread over the servers, each taking and dropping its own
     * lock (create an ephemeral znode, delete it); returns acquire+release pairs per second.
     */
    public static double lockThroughput(ZooKeeperEnsemble ensemble, int clients, Duration duration) throws Exception {
        var sessions = new ArrayList<ZooKeeper>();
        try {
            for (int i = 0; i < clients; i++) {
                sessions.add(ZooKeeperEnsemble.connect(ensemble.server(i)));
            }
            try {
                sessions.getFirst().create("/locks", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            } catch (KeeperException.NodeExistsException ignored) {
                // already there
            }
            var stop = new AtomicBoolean();
            var pairs = new AtomicLong();
            try (var pool = Executors.newFixedThreadPool(clients, Thread.ofPlatform().name("zk-lock-client-", 0).factory())) {
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
                for (Future<?> future : futures) {
                    future.get();
                }
                return pairs.get() / ((System.nanoTime() - start) / 1e9);
            }
        } finally {
            for (ZooKeeper session : sessions) {
                session.close();
            }
        }
    }
}
