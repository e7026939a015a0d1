package fivenines.systemtests;

import fivenines.testsupport.cluster.AgentProcess;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClientException;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real agents on loopback formed into one cluster, as an operator would: init, then join. */
final class TestCluster implements AutoCloseable {
    final List<AgentProcess> agents = new ArrayList<>();
    final Path root;
    final Path configDir;

    TestCluster(Path root) {
        this.root = root;
        this.configDir = root.resolve("config");
    }

    AgentProcess add(String name) throws IOException {
        var agent = new AgentProcess(name, root, configDir).start();
        agents.add(agent);
        return agent;
    }

    /** An agent in node {@code node}'s namespace of {@code lan}. */
    AgentProcess add(String name, fivenines.testsupport.cluster.Lan lan, int node) throws IOException {
        var agent = new AgentProcess(name, root, configDir).on(lan, node).start();
        agents.add(agent);
        return agent;
    }

    static TestCluster ofThree(Path root) throws IOException {
        return ofThree(root, null);
    }

    /** Three agents, on loopback or (when {@code lan} is given) each in its own namespace of it. */
    static TestCluster ofThree(Path root, fivenines.testsupport.cluster.Lan lan) throws IOException {
        var cluster = new TestCluster(root);
        var first = lan == null ? cluster.add("node0") : cluster.add("node0", lan, 0);
        Agents.client(first).post("/v1/cluster/init", Map.of("name", "test", "maxVoters", 5));
        for (int i = 1; i < 3; i++) {
            if (lan == null) {
                cluster.add("node" + i);
            } else {
                cluster.add("node" + i, lan, i);
            }
            cluster.join(cluster.agents.get(i), false);
        }
        cluster.awaitOnEvery(s -> s.path("nodes").size() == 3, Duration.ofSeconds(30), "three nodes seen by all");
        return cluster;
    }

    JsonNode join(AgentProcess agent, boolean witness) throws IOException {
        AgentProcess seed = agents.getFirst();
        return Agents.client(agent).post("/v1/cluster/join", Map.of("seed", seed.apiAddress(), "token", seed.secret(),
            "witness", witness));
    }

    AgentProcess get(String name) {
        return agents.stream().filter(a -> a.name.equals(name)).findFirst().orElseThrow();
    }

    /** Waits until some live agent names a leader that is alive, and returns it. */
    AgentProcess awaitLeader(Duration timeout) {
        Instant deadline = Instant.now().plus(timeout);
        while (Instant.now().isBefore(deadline)) {
            for (AgentProcess agent : agents) {
                if (!agent.alive()) {
                    continue;
                }
                try {
                    String leader = Agents.status(agent).path("leader").asText(null);
                    if (leader != null) {
                        var candidate = agents.stream().filter(a -> a.name.equals(leader) && a.alive()).findFirst();
                        if (candidate.isPresent()) {
                            return candidate.get();
                        }
                    }
                } catch (AgentClientException e) {
                    // the agent is busy electing
                }
            }
            AgentProcess.sleep(100);
        }
        throw new AssertionError("no live leader within " + timeout);
    }

    void awaitOnEvery(Predicate<JsonNode> condition, Duration timeout, String what) {
        for (AgentProcess agent : agents) {
            if (agent.alive()) {
                await(agent, condition, timeout, what);
            }
        }
    }

    static JsonNode await(AgentProcess agent, Predicate<JsonNode> condition, Duration timeout, String what) {
        Instant deadline = Instant.now().plus(timeout);
        JsonNode last = null;
        while (Instant.now().isBefore(deadline)) {
            try {
                last = Agents.status(agent);
                if (condition.test(last)) {
                    return last;
                }
            } catch (AgentClientException e) {
                // retry until the deadline
            }
            AgentProcess.sleep(100);
        }
        throw new AssertionError("on " + agent.name + ": not " + what + " within " + timeout + "; last status " + last);
    }

    void assertNoUnexpectedErrors() throws IOException {
        for (AgentProcess agent : agents) {
            var errors = agent.loggedErrors();
            assertTrue(errors.isEmpty(), agent.name + " logged errors: " + errors);
        }
    }

    @Override
    public void close() throws InterruptedException {
        for (AgentProcess agent : agents) {
            agent.close();
        }
    }
}
