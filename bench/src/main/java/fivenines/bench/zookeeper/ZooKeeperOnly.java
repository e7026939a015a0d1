package fivenines.bench.zookeeper;

import fivenines.bench.StoreResult;
import fivenines.bench.Table;

import java.time.Duration;

/**
 * Runs only the ZooKeeper side of the store benchmark and prints its figures, so the peer can
 * be tried alone. The optional argument is the lock phase in seconds (default 10).
 */
public final class ZooKeeperOnly {
    private ZooKeeperOnly() {
    }

    public static void main(String[] args) throws Exception {
        // ZooKeeper's client logs every session at INFO; only the figures matter here. Set before any logger exists.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn"));
        Duration lockDuration = args.length > 0 ? Duration.ofSeconds(Integer.parseInt(args[0])) : ZooKeeperWorkload.LOCK_DURATION;
        StoreResult result;
        long started = System.nanoTime();
        try (var ensemble = new ZooKeeperEnsemble()) {
            System.out.printf("ZooKeeper ensemble of %d up in %.1f s, modes %s%n", ensemble.size(),
                (System.nanoTime() - started) / 1e9, ensemble.modes());
            result = ZooKeeperWorkload.run(ensemble, lockDuration);
        }
        System.out.printf("%d sequential setData after %d warm-up; %d clients locking for %d s%n%n",
            result.commitLatency().samples(), ZooKeeperWorkload.WARMUP, ZooKeeperWorkload.CLIENTS, lockDuration.toSeconds());
        System.out.print(new Table("zookeeper").storeRows(null, result).render());
    }
}
