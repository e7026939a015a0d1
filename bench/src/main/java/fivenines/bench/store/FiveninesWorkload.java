package fivenines.bench.store;

import fivenines.agent.client.AgentClient;
import fivenines.bench.ClosedLoop;
import fivenines.bench.StoreResult;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/** The shapes of the store benchmark, through the agents' REST API as an operator's tools use it. */
final class FiveninesWorkload {
    private FiveninesWorkload() {
    }

    /** Sequential config sets on one key; each latency in nanoseconds, after a warm-up. */
    static long[] commitLatencies(AgentClient client, int warmup, int count) {
        for (int i = 0; i < warmup; i++) {
            client.put("/v1/config/bench.key", Map.of("value", "warm-" + i));
        }
        long[] latencies = new long[count];
        for (int i = 0; i < count; i++) {
            long start = System.nanoTime();
            client.put("/v1/config/bench.key", Map.of("value", "v" + i));
            latencies[i] = System.nanoTime() - start;
        }
        return latencies;
    }

    /** Clients, each acquiring and releasing its own lock in a loop; returns acquire+release pairs per second. */
    static double lockThroughput(List<AgentClient> nodes, int clients, Duration duration) throws Exception {
        var stop = new AtomicBoolean();
        var pairs = new AtomicLong();
        try (var pool = Executors.newFixedThreadPool(clients, Thread.ofPlatform().name("bench-lock-client-", 0).factory())) {
            var futures = new ArrayList<Future<?>>();
            long start = System.nanoTime();
            for (int i = 0; i < clients; i++) {
                AgentClient client = nodes.get(i % nodes.size());
                String path = "/v1/locks/bench-" + i;
                String owner = "bench-" + i;
                futures.add(pool.submit(() -> {
                    while (!stop.get()) {
                        client.post(path + "/acquire", Map.of("mode", "ex", "owner", owner));
                        client.post(path + "/release", Map.of("owner", owner));
                        pairs.incrementAndGet();
                    }
                    return null;
                }));
            }
            Thread.sleep(duration.toMillis());
            stop.set(true);
            for (var future : futures) {
                future.get();
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            return pairs.get() / seconds;
        }
    }

    /**
     * Clients spread over the nodes, each alternating a config set and a config get (linearizable,
     * as the API answers every get) on one of {@code keys} keys, as fast as each gets its answers.
     */
    static StoreResult.MixedResult mixed(List<AgentClient> nodes, int clients, int keys, Duration duration) throws Exception {
        for (int k = 0; k < keys; k++) {
            nodes.getFirst().put("/v1/config/" + mixedKey(k), Map.of("value", "start"));
        }
        return ClosedLoop.run("bench-mixed", clients, duration, (client, sequence) -> {
            AgentClient node = nodes.get(client % nodes.size());
            String path = "/v1/config/" + mixedKey((int) ((client + sequence / 2) % keys));
            if (sequence % 2 == 0) {
                node.put(path, Map.of("value", "c" + client + "-" + sequence));
            } else {
                node.get(path);
            }
        });
    }

    static String mixedKey(int k) {
        return "bench.mixed." + k;
    }
}
