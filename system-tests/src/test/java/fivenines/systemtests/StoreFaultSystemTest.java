package fivenines.systemtests;

import fivenines.testsupport.cluster.AgentProcess;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Config order, lock contention, and kill -9 of leaders and of everyone, on three real agents. */
class StoreFaultSystemTest extends ClusterSystemTest {
    @BeforeEach
    void formCluster() throws Exception {
        cluster = TestCluster.ofThree(dir);
    }


    @Test
    void configChangesFromEveryNodeAreSeenByAllInVersionOrder() throws Exception {
        var writers = new ArrayList<CompletableFuture<List<Long>>>();
        for (AgentProcess agent : cluster.agents) {
            writers.add(CompletableFuture.supplyAsync(() -> {
                var versions = new ArrayList<Long>();
                AgentClient client = Agents.client(agent);
                for (int i = 0; i < 20; i++) {
                    versions.add(client.put("/v1/config/" + agent.name + ".k", Map.of("value", Integer.toString(i)))
                        .path("configVersion").asLong());
                }
                return versions;
            }));
        }
        var all = new ArrayList<Long>();
        for (var writer : writers) {
            List<Long> versions = writer.get(120, TimeUnit.SECONDS);
            for (int i = 1; i < versions.size(); i++) {
                assertTrue(versions.get(i) > versions.get(i - 1), "a writer's versions must grow: " + versions);
            }
            all.addAll(versions);
        }
        assertEquals(60, all.stream().distinct().count(), "each change got its own config_version: " + all);
        // a reader that polls one node never sees config_version go back
        var seen = new ConcurrentLinkedQueue<Long>();
        for (AgentProcess agent : cluster.agents) {
            JsonNode config = Agents.client(agent).get("/v1/config");
            assertEquals(60, config.path("configVersion").asLong(), agent.name);
            assertEquals("19", config.path("values").path("node2.k").asText());
            seen.add(config.path("configVersion").asLong());
        }
        assertEquals(1, seen.stream().distinct().count());
    }

    @Test
    void locksContendedAcrossNodesAreGrantedInOrderAndTimeOutCleanly() throws Exception {
        AgentClient a = Agents.client(cluster.get("node0"));
        AgentClient b = Agents.client(cluster.get("node1"));
        AgentClient c = Agents.client(cluster.get("node2"));
        long aToken = a.post("/v1/locks/vg0/acquire", Map.of("mode", "ex")).path("token").asLong();
        assertTrue(aToken > 0, "a grant carries a fencing token");
        var bWaits = CompletableFuture.supplyAsync(() -> b.post("/v1/locks/vg0/acquire", Map.of("mode", "ex", "waitSeconds", 30)));
        awaitWaiters(a, "vg0", 1);
        var cWaits = CompletableFuture.supplyAsync(() -> c.post("/v1/locks/vg0/acquire", Map.of("mode", "pr", "waitSeconds", 30)));
        awaitWaiters(a, "vg0", 2);
        // a non-waiting request is refused at once and leaves no trace
        var refused = assertThrows(AgentClientException.class, () -> c.post("/v1/locks/vg0/acquire",
            Map.of("mode", "ex", "owner", "impatient")));
        assertEquals(409, refused.status());
        assertFalse(bWaits.isDone() || cWaits.isDone());

        a.post("/v1/locks/vg0/release", Map.of());
        JsonNode granted = bWaits.get(30, TimeUnit.SECONDS);
        assertEquals("node1", granted.path("lock").path("holders").get(0).path("node").asText(), "first in line wins");
        long bToken = granted.path("token").asLong();
        assertTrue(bToken > aToken, "the next grant's token " + bToken + " is not above the one before, " + aToken);
        assertEquals(bToken, granted.path("lock").path("holders").get(0).path("token").asLong());
        assertFalse(cWaits.isDone(), "a PR request waits while node1 holds EX");
        b.post("/v1/locks/vg0/release", Map.of());
        long cToken = cWaits.get(30, TimeUnit.SECONDS).path("token").asLong();
        assertTrue(cToken > bToken, "the next grant's token " + cToken + " is not above the one before, " + bToken);

        // a wait that times out withdraws itself
        var timeout = assertThrows(AgentClientException.class, () -> a.post("/v1/locks/vg0/acquire",
            Map.of("mode", "ex", "waitSeconds", 1)));
        assertTrue(timeout.getMessage().contains("not granted within"), timeout.getMessage());
        JsonNode locks = a.get("/v1/locks");
        assertEquals(0, locks.get(0).path("waiters").size(), locks.toString());
    }

    private static void awaitWaiters(AgentClient client, String lock, int count) {
        for (int i = 0; i < 200; i++) {
            for (JsonNode l : client.get("/v1/locks")) {
                if (l.path("name").asText().equals(lock) && l.path("waiters").size() == count) {
                    return;
                }
            }
            AgentProcess.sleep(50);
        }
        throw new AssertionError("lock " + lock + " never had " + count + " waiters");
    }

    @Test
    void killingTheLeaderLosesNoCommittedChangeAndTheKilledNodeCatchesUp() throws Exception {
        AgentProcess leader = cluster.awaitLeader(Duration.ofSeconds(30));
        AgentClient client = Agents.client(leader);
        for (int i = 0; i < 25; i++) {
            client.put("/v1/config/k" + i, Map.of("value", "v" + i));
        }
        leader.kill();
        AgentProcess next = cluster.awaitLeader(Duration.ofSeconds(30));
        assertNotEquals(leader.name, next.name);
        assertEquals(25, Agents.client(next).get("/v1/config").path("configVersion").asLong());
        Agents.client(next).put("/v1/config/after", Map.of("value", "kill"));

        leader.start();
        JsonNode status = TestCluster.await(leader, s -> s.path("configVersion").asLong() == 26, Duration.ofSeconds(60),
            "caught up to config_version 26");
        assertEquals("test", status.path("cluster").asText());
        assertEquals("kill", Agents.client(leader).get("/v1/config/after").path("value").asText());
    }

    @Test
    void allNodesKilledAndRestartedKeepTheirState() throws Exception {
        AgentClient client = Agents.client(cluster.get("node1"));
        client.put("/v1/config/survives", Map.of("value", "yes"));
        client.post("/v1/locks/held/acquire", Map.of("mode", "pr"));
        for (AgentProcess agent : cluster.agents) {
            agent.kill();
        }
        for (AgentProcess agent : cluster.agents) {
            agent.start();
        }
        cluster.awaitLeader(Duration.ofSeconds(60));
        for (AgentProcess agent : cluster.agents) {
            JsonNode status = TestCluster.await(agent, s -> s.path("configVersion").asLong() == 1, Duration.ofSeconds(60),
                "recovered config_version 1");
            assertEquals(3, status.path("nodes").size());
            assertEquals("yes", Agents.client(agent).get("/v1/config/survives").path("value").asText());
        }
        JsonNode locks = Agents.client(cluster.get("node0")).get("/v1/locks");
        assertEquals("node1", locks.get(0).path("holders").get(0).path("node").asText());
    }

    @Test
    void aDeadNodesLocksAreReleasedAndPassedToTheNextInLine() throws Exception {
        AgentClient first = Agents.client(cluster.get("node0"));
        first.put("/v1/config/cluster.dead_after_seconds", Map.of("value", "3"));
        AgentProcess victim = cluster.get("node2");
        long victimToken = Agents.client(victim).post("/v1/locks/disk/acquire", Map.of("mode", "ex")).path("token").asLong();
        var waiting = CompletableFuture.supplyAsync(() -> first.post("/v1/locks/disk/acquire",
            Map.of("mode", "ex", "waitSeconds", 60)));
        awaitWaiters(first, "disk", 1);
        victim.kill();
        JsonNode granted = waiting.get(60, TimeUnit.SECONDS);
        assertEquals("node0", granted.path("lock").path("holders").get(0).path("node").asText());
        assertTrue(granted.path("token").asLong() > victimToken, "the dead node's token is not below the next holder's: "
            + victimToken + " vs " + granted);
        TestCluster.await(cluster.get("node0"), s -> {
            for (JsonNode n : s.path("nodes")) {
                if (n.path("name").asText().equals("node2")) {
                    return n.path("state").asText().equals("DOWN");
                }
            }
            return false;
        }, Duration.ofSeconds(30), "node2 declared down");
    }
}
