package fivenines.bench.store;

import java.time.Duration;
import java.util.Arrays;

/** Runs only the fivenines side of the store benchmark and prints its figures. */
public final class FiveninesOnly {
    private FiveninesOnly() {
    }

    public static void main(String[] args) throws Exception {
        try (var cluster = new FiveninesCluster()) {
            long[] latencies = FiveninesWorkload.commitLatencies(cluster.leader(), 3000, 2000);
            Arrays.sort(latencies);
            System.out.printf("config-set commit latency: p50 %.2f ms, p99 %.2f ms%n",
                latencies[latencies.length / 2] / 1e6, latencies[(int) (latencies.length * 0.99)] / 1e6);
            double pairs = FiveninesWorkload.lockThroughput(cluster.clients, 16, Duration.ofSeconds(10));
            System.out.printf("lock acquire+release: %.0f pairs/s (%.0f ops/s)%n", pairs, pairs * 2);
        }
    }
}
