package fivenines.systemtests;

import fivenines.testsupport.cluster.AgentProcess;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClientException;
import fivenines.model.codec.Json;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Three real agents: init and join, wrong tokens, leave and promotion. */
class ClusterMembershipSystemTest extends ClusterSystemTest {

    @Test
    void initAndJoinFormAThreeVoterClusterSeenAlikeByAll() throws Exception {
        cluster = TestCluster.ofThree(dir);
        for (AgentProcess agent : cluster.agents) {
            JsonNode status = Agents.status(agent);
            assertEquals("test", status.path("cluster").asText());
            assertEquals(3, status.path("quorum").path("voters").asInt(), status.toString());
            assertTrue(status.path("quorum").path("ok").asBoolean(), status.toString());
        }
        // every node holds the same secret now: the join token
        assertEquals(cluster.get("node0").secret(), cluster.get("node2").secret());

        // the CLI, as a separate process, finds the agent and its credential by itself
        var outcome = Cli.run(cluster.get("node1").cliEnvironment(), "cluster", "status", "--json");
        assertEquals(0, outcome.exit(), outcome.err());
        JsonNode json = Json.mapper().readTree(outcome.out());
        assertEquals(3, json.path("nodes").size());
        cluster.assertNoUnexpectedErrors();
    }

    @Test
    void aWrongTokenIsRefusedAndChangesNothing() throws Exception {
        cluster = TestCluster.ofThree(dir);
        // (the applied index moves on by itself: every node renews its lease through the store)
        JsonNode before = Agents.status(cluster.get("node0"));
        var stranger = cluster.add("stranger");
        var error = assertThrows(AgentClientException.class, () -> Agents.client(stranger).post("/v1/cluster/join",
            Map.of("seed", cluster.get("node0").apiAddress(), "token", "0".repeat(64))));
        assertEquals(403, error.status(), error.getMessage());
        assertTrue(error.getMessage().contains("credential"), error.getMessage());
        assertEquals(3, Agents.status(cluster.get("node0")).path("nodes").size());
        assertTrue(!Agents.status(stranger).path("inCluster").asBoolean(), "the stranger must not think it joined");
        // nothing was written to the store by the attempt: the same members, the same configuration
        JsonNode after = Agents.status(cluster.get("node0"));
        assertEquals(before.path("configVersion").asLong(), after.path("configVersion").asLong());
        assertEquals(before.path("nodes").size(), after.path("nodes").size());
        for (int i = 0; i < before.path("nodes").size(); i++) {
            assertEquals(before.path("nodes").get(i).path("name").asText(), after.path("nodes").get(i).path("name").asText());
        }

        // the API refuses calls without the credential, and the CLI reports it with a non-zero exit
        var anonymous = Agents.client(cluster.get("node0"), null, java.time.Duration.ofSeconds(60));
        assertEquals(401, assertThrows(AgentClientException.class, () -> anonymous.put("/v1/config/x",
            Map.of("value", "y"))).status());
        var outcome = Cli.run(Map.of("NINES_AGENT", cluster.get("node0").url(), "NINES_CONFIG_DIR", dir.resolve("empty").toString()),
            "config", "set", "x", "y");
        assertEquals(1, outcome.exit());
        assertTrue(outcome.err().contains("credential"), outcome.err());
        assertThrows(AgentClientException.class, () -> Agents.client(cluster.get("node0")).get("/v1/config/x"));
    }

    @Test
    void nodesBeyondMaxVotersAreMembersAndOneIsPromotedWhenAVoterLeaves() throws Exception {
        cluster = new TestCluster(dir);
        var first = cluster.add("node0");
        Agents.client(first).post("/v1/cluster/init", Map.of("name", "small", "maxVoters", 3));
        for (int i = 1; i <= 3; i++) {
            cluster.join(cluster.add("node" + i), false);
        }
        cluster.awaitOnEvery(s -> s.path("nodes").size() == 4, Duration.ofSeconds(30), "four nodes");
        JsonNode status = Agents.status(first);
        assertEquals(3, status.path("quorum").path("voters").asInt(), status.toString());
        assertEquals("MEMBER", role(status, "node3"));
        assertEquals(1, status.path("raftListeners").size(), status.toString());

        Agents.client(cluster.get("node1")).post("/v1/cluster/leave", Map.of());
        JsonNode after = TestCluster.await(first, s -> s.path("nodes").size() == 3
            && s.path("raftVoters").size() == 3, Duration.ofSeconds(30), "node3 promoted to voter");
        assertEquals("VOTER", role(after, "node3"));
        assertTrue(!Agents.status(cluster.get("node1")).path("inCluster").asBoolean());

        // the cluster still commits with the promoted voter
        assertEquals(1, Agents.client(first).put("/v1/config/after-leave", Map.of("value", "ok")).path("configVersion").asInt());
        assertEquals("ok", Agents.client(cluster.get("node3")).get("/v1/config/after-leave").path("value").asText());
    }

    @Test
    void aWitnessVotesAndCompletesATwoNodeCluster() throws Exception {
        cluster = new TestCluster(dir);
        var first = cluster.add("node0");
        Agents.client(first).post("/v1/cluster/init", Map.of("name", "pair"));
        cluster.join(cluster.add("node1"), false);
        var witness = cluster.add("witness");
        JsonNode joined = cluster.join(witness, true);
        assertTrue(joined.path("node").path("witness").asBoolean(), joined.toString());
        JsonNode status = TestCluster.await(first, s -> s.path("raftVoters").size() == 3, Duration.ofSeconds(30), "three voters");
        assertEquals("WITNESS", role(status, "witness"));
        // one data node dies; the other and the witness keep a quorum
        cluster.get("node1").kill();
        assertEquals(1, Agents.client(first).put("/v1/config/still", Map.of("value", "writable")).path("configVersion").asInt());
    }

    static String role(JsonNode status, String node) {
        for (JsonNode n : status.path("nodes")) {
            if (n.path("name").asText().equals(node)) {
                return n.path("role").asText();
            }
        }
        throw new AssertionError("no node " + node + " in " + status);
    }
}
