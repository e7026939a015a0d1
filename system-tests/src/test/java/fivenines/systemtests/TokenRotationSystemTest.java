package fivenines.systemtests;

import fivenines.agent.client.AgentClientException;
import fivenines.testsupport.cluster.AgentProcess;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `nines cluster token rotate` on three real agents: every node switches to the new secret (one
 * that was down meanwhile too, when it comes back), the old token is refused everywhere after the
 * grace (the API, a join), and the store goes on committing from every node.
 */
class TokenRotationSystemTest extends ClusterSystemTest {

    @Test
    void aRotatedTokenReplacesTheOldOneOnEveryNodeAlsoOneThatWasDownAndTheOldOneIsRefusedAfterTheGrace() throws Exception {
        cluster = TestCluster.ofThree(dir);
        AgentProcess node0 = cluster.get("node0");
        String old = node0.secret();
        assertEquals(0, Cli.nines(node0, "config", "set", "cluster.token_grace_seconds", "3").exit());
        // node2 is down through the rotation
        cluster.get("node2").stopGracefully();

        var rotated = Cli.nines(node0, "cluster", "token", "rotate");
        assertEquals(0, rotated.exit(), rotated.toString());
        String token = rotated.out().lines().filter(l -> l.startsWith("new join token: ")).findFirst().orElseThrow()
            .substring("new join token: ".length()).strip();
        assertTrue(token.matches("[0-9a-f]{64}"), rotated.out());
        assertNotEquals(old, token);
        assertEquals(token, node0.secret(), "node0 keeps the new secret");
        TestCluster.await(cluster.get("node1"), s -> secretOf("node1").equals(token), Duration.ofSeconds(20),
            "node1 switched to the new secret");
        // within the grace the old token still works; the new one works at once
        assertTrue(client("node1", old).get("/v1/cluster/status").path("inCluster").asBoolean());
        assertTrue(client("node1", token).get("/v1/cluster/status").path("inCluster").asBoolean());
        AgentProcess.sleep(3500);
        for (String node : new String[] {"node0", "node1"}) {
            var refused = assertThrows(AgentClientException.class, () -> client(node, old).get("/v1/cluster/status"));
            assertEquals(401, refused.status(), node + ": " + refused.getMessage());
        }
        // the store takes commands from both nodes, signed with the new secret
        client("node1", token).put("/v1/config/after-rotation", Map.of("value", "one"));
        assertEquals("one", client("node0", token).get("/v1/config/after-rotation").path("value").asText());
        // the CLI on each node finds the new secret by itself
        var listed = Cli.nines(cluster.get("node1"), "config", "show");
        assertEquals(0, listed.exit(), listed.toString());

        // node2 comes back with the old secret: it opens the rotation it missed and switches
        cluster.get("node2").start();
        TestCluster.await(cluster.get("node0"), s -> secretOf("node2").equals(token), Duration.ofSeconds(60),
            "node2 switched to the new secret after its return");
        TestCluster.await(cluster.get("node0"), s -> {
            try {
                client("node2", token).put("/v1/config/from-node2", Map.of("value", "two"));
                return true;
            } catch (AgentClientException e) {
                return false; // catching up
            }
        }, Duration.ofSeconds(60), "node2 commits with the new secret");
        assertEquals("two", client("node1", token).get("/v1/config/from-node2").path("value").asText());

        // a node that presents the old token cannot join
        AgentProcess node3 = cluster.add("node3");
        var join = Cli.nines(node3, "cluster", "join", node0.apiAddress(), "--token", old);
        assertEquals(1, join.exit(), join.toString());
        assertTrue(join.toString().contains("does not match"), join.toString());
        // and a second rotation from another node, while nothing changed meanwhile, is taken too
        var again = Cli.nines(cluster.get("node1"), "cluster", "token", "rotate");
        assertEquals(0, again.exit(), again.toString());
        assertNotEquals(token, cluster.get("node1").secret());
    }

    private String secretOf(String node) {
        try {
            return cluster.get(node).secret();
        } catch (IOException e) {
            return "";
        }
    }

    private fivenines.agent.client.AgentClient client(String node, String token) {
        return Agents.client(cluster.get(node), token, Duration.ofSeconds(30));
    }
}
