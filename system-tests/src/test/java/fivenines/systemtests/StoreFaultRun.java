package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.testsupport.cluster.AgentProcess;
import fivenines.testsupport.cluster.Lan;
import fivenines.testsupport.history.ConfigModel;
import fivenines.testsupport.history.Op;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Clients on every node doing random config reads, writes and compare-and-sets and lock
 * acquires and releases through their own agent, each recorded as invoked and completed (ok,
 * failed, or unknown when there was no answer), while a nemesis kills, restarts and pauses
 * agents. A watcher records when a node is declared down (its locks are let go then).
 */
final class StoreFaultRun {
    static final List<String> KEYS = List.of("j0", "j1", "j2");
    static final List<String> LOCKS = List.of("L0", "L1");
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(3);

    private final TestCluster cluster;
    private final Random random;
    private final long started = System.nanoTime();
    final List<Op> configOps = Collections.synchronizedList(new ArrayList<>());
    final List<Op> lockOps = Collections.synchronizedList(new ArrayList<>());
    final List<String> faults = Collections.synchronizedList(new ArrayList<>());
    final List<Long> leaderlessMillis = Collections.synchronizedList(new ArrayList<>());
    private final AtomicInteger ids = new AtomicInteger();
    private final AtomicInteger processes = new AtomicInteger();
    /** The start of the latest fault on each node: a node declared down was so at the latest from then. */
    private final Map<String, Long> faultedSince = new ConcurrentHashMap<>();
    private volatile boolean running = true;

    private final Lan lan;

    /** With {@code lan} (the agents in its namespaces, in order), the nemesis also cuts a node off. */
    StoreFaultRun(TestCluster cluster, Lan lan, long seed) {
        this.cluster = cluster;
        this.lan = lan;
        this.random = new Random(seed);
    }

    long now() {
        return System.nanoTime() - started;
    }

    private int id() {
        return ids.getAndIncrement();
    }

    /** The config as it is before the clients start: the model's first state. */
    static ConfigModel initialConfig(AgentProcess agent) {
        JsonNode config = Agents.client(agent).get("/v1/config");
        var values = new HashMap<String, String>();
        config.path("values").fields().forEachRemaining(e -> values.put(e.getKey(), e.getValue().asText()));
        return new ConfigModel(config.path("configVersion").asLong(), values);
    }

    void run(Duration length, int clientsPerNode, Duration faultEvery) throws InterruptedException {
        var threads = new ArrayList<Thread>();
        for (AgentProcess agent : cluster.agents) {
            for (int i = 0; i < clientsPerNode; i++) {
                long seed = random.nextLong();
                threads.add(Thread.ofPlatform().name("client-" + agent.name + "-" + i).start(() -> client(agent, seed)));
            }
        }
        threads.add(Thread.ofPlatform().name("down-watcher").start(this::watchDownDeclarations));
        long end = System.nanoTime() + length.toNanos();
        try {
            while (System.nanoTime() < end) {
                Thread.sleep(faultEvery.toMillis() / 3 + random.nextLong(faultEvery.toMillis() / 2));
                if (System.nanoTime() < end) {
                    fault();
                }
            }
        } finally {
            running = false;
            if (lan != null) {
                try {
                    lan.heal();
                } catch (IOException e) {
                    faults.add("could not heal the network: " + e.getMessage());
                }
            }
            for (AgentProcess agent : cluster.agents) {
                try {
                    if (!agent.alive()) {
                        agent.start();
                    } else {
                        agent.resume();
                    }
                } catch (IOException e) {
                    faults.add("could not bring " + agent.name + " back: " + e.getMessage());
                }
            }
            for (Thread thread : threads) {
                thread.join(Duration.ofSeconds(30));
            }
        }
    }

    // ---- the nemesis ----

    private void fault() throws InterruptedException {
        AgentProcess victim = cluster.agents.get(random.nextInt(cluster.agents.size()));
        faultedSince.put(victim.name, now());
        // the fault may get the victim declared down (and its locks let go) at any time after it, also in
        // a flap shorter than the watcher's polls: one such release, at most, per fault
        for (String lock : LOCKS) {
            lockOps.add(new Op(id(), -1, "expire", lock, victim.name, null, now(), -1, Op.Outcome.UNKNOWN));
        }
        boolean wasLeader = victim.name.equals(leaderSeenBy(victim));
        try {
            int kind = random.nextInt(lan == null ? 2 : 3);
            if (kind == 2) {
                int isolated = cluster.agents.indexOf(victim);
                var others = new ArrayList<Integer>();
                for (int i = 0; i < cluster.agents.size(); i++) {
                    if (i != isolated) {
                        others.add(i);
                    }
                }
                long cut = 2_000 + random.nextInt(4_000);
                faults.add("partition " + victim.name + (wasLeader ? " (leader)" : "") + " from the others for " + cut + " ms");
                lan.cut(List.of(isolated), others);
                lastFor(victim, cut, lan::heal);
            } else if (kind == 0) {
                long down = 1_000 + random.nextInt(3_000);
                faults.add("kill -9 " + victim.name + (wasLeader ? " (leader)" : "") + ", restarted after " + down + " ms");
                victim.kill();
                lastFor(victim, down, victim::start);
            } else {
                long paused = 1_000 + random.nextInt(4_000);
                faults.add("SIGSTOP " + victim.name + (wasLeader ? " (leader)" : "") + " for " + paused + " ms");
                victim.pause();
                lastFor(victim, paused, victim::resume);
            }
        } catch (IOException | IllegalStateException e) {
            faults.add("fault on " + victim.name + " failed: " + e.getMessage());
        }
    }

    private interface Undo {
        void run() throws IOException, InterruptedException;
    }

    /** From the fault's start: measures the time without a leader, waits out the fault's length, then undoes it. */
    private void lastFor(AgentProcess victim, long millis, Undo undo) throws IOException, InterruptedException {
        long from = now();
        awaitLeaderWithout(victim, from);
        Thread.sleep(Math.max(0, millis - (now() - from) / 1_000_000));
        undo.run();
    }

    private String leaderSeenBy(AgentProcess agent) {
        try {
            return Agents.status(agent).path("leader").asText(null);
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** How long no other node saw a leader other than the victim, after the fault (up to 20 s). */
    private void awaitLeaderWithout(AgentProcess victim, long from) {
        long deadline = from + Duration.ofSeconds(20).toNanos();
        while (now() < deadline) {
            for (AgentProcess other : cluster.agents) {
                if (other != victim && other.alive()) {
                    String leader = leaderSeenBy(other);
                    if (leader != null && !leader.equals(victim.name)) {
                        leaderlessMillis.add((now() - from) / 1_000_000);
                        return;
                    }
                }
            }
            AgentProcess.sleep(50);
        }
        leaderlessMillis.add(-1L);
    }

    // ---- down declarations ----

    private void watchDownDeclarations() {
        var down = new HashMap<String, Boolean>();
        long lastPoll = 0;
        while (running) {
            for (AgentProcess agent : cluster.agents) {
                JsonNode status;
                try {
                    status = Agents.client(agent, agent.secret(), Duration.ofSeconds(1)).get("/v1/cluster/status");
                } catch (RuntimeException | IOException e) {
                    continue;
                }
                long seen = now();
                for (JsonNode node : status.path("nodes")) {
                    String name = node.path("name").asText();
                    boolean isDown = "DOWN".equalsIgnoreCase(node.path("state").asText());
                    if (isDown && !down.getOrDefault(name, false)) {
                        // let go somewhere between the fault that caused it (or the last poll) and now
                        long since = Math.min(faultedSince.getOrDefault(name, 0L), lastPoll);
                        for (String lock : LOCKS) {
                            lockOps.add(new Op(id(), -1, "expire", lock, name, null, since, seen, Op.Outcome.OK));
                        }
                    }
                    down.put(name, isDown);
                }
                lastPoll = seen;
                break; // one live agent's view per round
            }
            AgentProcess.sleep(200);
        }
    }

    // ---- the clients ----

    private void client(AgentProcess agent, long seed) {
        var random = new Random(seed);
        int process = processes.getAndIncrement();
        String held = null;
        String lostOwner = null; // a lock operation without an answer: its owner may still hold lostLock
        String lostLock = null;
        long version = 0;
        AgentClient client = null;
        while (running) {
            if (client == null) {
                try {
                    client = Agents.client(agent, agent.secret(), CALL_TIMEOUT);
                } catch (IOException e) {
                    AgentProcess.sleep(100);
                    continue;
                }
            }
            int choice = random.nextInt(10);
            long invoked = now();
            Op op;
            if (lostOwner != null || choice >= 7) {
                String owner = lostOwner != null ? lostOwner : "p" + process;
                String lock = lostOwner != null ? lostLock : held != null ? held : LOCKS.get(random.nextInt(LOCKS.size()));
                boolean release = lostOwner != null || held != null;
                String function = release ? "release" : "acquire";
                String holder = agent.name + "/" + owner;
                try {
                    client.post("/v1/locks/" + lock + "/" + function,
                        release ? Map.of("owner", owner) : Map.of("owner", owner, "mode", "ex", "waitSeconds", 0));
                    op = done(process, function, lock, holder, true, invoked);
                } catch (AgentClientException e) {
                    if (e.mayHaveHappened()) {
                        op = unknown(process, function, lock, holder, invoked);
                    } else if (e.status() == (release ? 404 : 409)) {
                        op = done(process, function, lock, holder, false, invoked);
                    } else {
                        op = failed(process, function, lock, holder, invoked);
                    }
                }
                lockOps.add(op);
                switch (op.outcome()) {
                    case UNKNOWN -> {
                        // a process without an answer is gone (Jepsen's rule); the next one first lets go of
                        // what the lost one may hold, under the lost one's name
                        process = processes.getAndIncrement();
                        lostOwner = owner;
                        lostLock = lock;
                        held = null;
                    }
                    case OK -> {
                        if (lostOwner != null) {
                            lostOwner = null;
                            lostLock = null;
                        } else {
                            held = release ? null : ((Boolean) op.output() ? lock : null);
                        }
                    }
                    case FAILED -> {
                        // did not happen: try again later
                    }
                }
            } else {
                String key = KEYS.get(random.nextInt(KEYS.size()));
                String function = choice < 3 ? "get" : choice < 5 ? "set" : "cas";
                String value = "v" + random.nextInt(1000);
                Object input = switch (function) {
                    case "set" -> value;
                    case "cas" -> new ConfigModel.Cas(version, value);
                    default -> null;
                };
                try {
                    JsonNode answer = switch (function) {
                        case "get" -> client.get("/v1/config/" + key);
                        case "set" -> client.put("/v1/config/" + key, Map.of("value", value));
                        default -> client.put("/v1/config/" + key, Map.of("value", value, "expectedVersion", version));
                    };
                    long seenVersion = answer.path("configVersion").asLong();
                    version = seenVersion;
                    op = done(process, function, key, input, function.equals("get")
                        ? new ConfigModel.Read(answer.path("value").asText(), seenVersion) : (Object) seenVersion, invoked);
                } catch (AgentClientException e) {
                    if (e.mayHaveHappened()) {
                        op = unknown(process, function, key, input, invoked);
                    } else if (function.equals("get") && e.status() == 404) {
                        op = done(process, function, key, null, new ConfigModel.Read(null, -1), invoked);
                    } else if (function.equals("cas") && e.status() == 409) {
                        op = done(process, function, key, input, ConfigModel.CONFLICT, invoked);
                    } else {
                        op = failed(process, function, key, input, invoked);
                    }
                }
                configOps.add(op);
                if (op.outcome() == Op.Outcome.UNKNOWN) {
                    process = processes.getAndIncrement();
                }
            }
            if (op.outcome() == Op.Outcome.FAILED) {
                AgentProcess.sleep(100); // its agent is down or busy electing: do not spin
            }
        }
    }

    private Op done(int process, String function, String key, Object input, Object output, long invoked) {
        return new Op(id(), process, function, key, input, output, invoked, now(), Op.Outcome.OK);
    }

    private Op unknown(int process, String function, String key, Object input, long invoked) {
        return new Op(id(), process, function, key, input, null, invoked, -1, Op.Outcome.UNKNOWN);
    }

    private Op failed(int process, String function, String key, Object input, long invoked) {
        return new Op(id(), process, function, key, input, null, invoked, now(), Op.Outcome.FAILED);
    }
}
