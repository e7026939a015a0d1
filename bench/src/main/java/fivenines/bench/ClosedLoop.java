package fivenines.bench;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Clients that each send their next operation as soon as the last one answered, for a fixed
 * time: the highest rate the system sustains with that many callers. Every latency is kept.
 */
public final class ClosedLoop {
    /** One client's operation number {@code sequence}; throws when it failed. */
    @FunctionalInterface
    public interface Operation {
        void run(int client, long sequence) throws Exception;
    }

    private ClosedLoop() {
    }

    /** Runs {@code clients} callers for {@code duration}, each on its own platform thread. */
    public static StoreResult.MixedResult run(String name, int clients, Duration duration, Operation operation) throws Exception {
        var stop = new AtomicBoolean();
        var recorded = new ArrayList<long[]>();
        try (var pool = Executors.newFixedThreadPool(clients, Thread.ofPlatform().name(name + "-client-", 0).factory())) {
            List<Future<long[]>> futures = new ArrayList<>();
            long start = System.nanoTime();
            for (int i = 0; i < clients; i++) {
                int client = i;
                futures.add(pool.submit(() -> {
                    long[] latencies = new long[1024];
                    int count = 0;
                    for (long sequence = 0; !stop.get(); sequence++) {
                        long begin = System.nanoTime();
                        operation.run(client, sequence);
                        if (count == latencies.length) {
                            latencies = Arrays.copyOf(latencies, count * 2);
                        }
                        latencies[count++] = System.nanoTime() - begin;
                    }
                    return Arrays.copyOf(latencies, count);
                }));
            }
            Thread.sleep(duration.toMillis());
            stop.set(true);
            for (Future<long[]> future : futures) {
                recorded.add(future.get());
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            long[] all = recorded.stream().flatMapToLong(Arrays::stream).toArray();
            return new StoreResult.MixedResult(all.length / seconds, LatencySummary.ofNanos(all));
        }
    }
}
