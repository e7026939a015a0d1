package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.testsupport.cluster.AgentProcess;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A volume group over three nodes' disks; volumes created from every node at once. */
class VolumeSystemTest extends ClusterSystemTest {

    @Test
    void concurrentCreatesFromEveryNodeNeverShareAnExtentAndFailedOnesLeaveNothing() throws Exception {
        cluster = TestCluster.ofThree(dir);
        var pvs = new ArrayList<String>();
        for (AgentProcess agent : cluster.agents) {
            Path file = dir.resolve(agent.name + ".img");
            pvs.add(Agents.client(agent).post("/v1/pvs", Map.of("path", file.toString(), "size", 129L << 20)).path("name").asText());
        }
        JsonNode vg = Agents.client(cluster.get("node0")).post("/v1/vgs", Map.of("name", "vg", "pvs", pvs));
        assertEquals(96, vg.path("extents").asInt(), vg.toString());

        // 3 nodes x 10 volumes of 3 extents = 90 of 96 extents; then 3 more of 3 extents: only 2 fit
        var creates = new ArrayList<CompletableFuture<Integer>>();
        for (AgentProcess agent : cluster.agents) {
            AgentClient client = Agents.client(agent);
            creates.add(CompletableFuture.supplyAsync(() -> {
                int created = 0;
                for (int i = 0; i < 11; i++) {
                    try {
                        client.post("/v1/lvs", Map.of("vg", "vg", "name", agent.name + "-" + i, "size", 12L << 20, "on", agent.name));
                        created++;
                    } catch (AgentClientException e) {
                        assertEquals(507, e.status(), e.getMessage());
                        assertTrue(e.getMessage().contains("volume group 'vg' has 0 MiB free on nodes that are up; 12 MiB are needed"),
                            e.getMessage());
                    }
                }
                return created;
            }));
        }
        int created = 0;
        for (var create : creates) {
            created += create.get(180, TimeUnit.SECONDS);
        }
        assertEquals(32, created, "96 extents hold exactly 32 volumes of 3");
        JsonNode lvs = Agents.client(cluster.get("node2")).get("/v1/lvs");
        assertEquals(32, lvs.size());
        JsonNode after = Agents.client(cluster.get("node1")).get("/v1/vgs/vg");
        assertEquals(0, after.path("freeExtents").asInt());
        long used = 0;
        for (JsonNode pv : Agents.client(cluster.get("node1")).get("/v1/pvs")) {
            used += pv.path("usedExtents").asLong();
        }
        assertEquals(96, used);
        // extents on the preferred node first: most of node0's volumes sit on node0's disk
        long local = 0;
        for (JsonNode lv : lvs) {
            if (lv.path("name").asText().startsWith("node0-") && lv.path("nodes").size() == 1
                && lv.path("nodes").get(0).asText().equals("node0")) {
                local++;
            }
        }
        assertTrue(local >= 8, "node0's volumes mostly on node0: " + local);

        // removing frees exactly what it used; the freed space is usable again
        Agents.client(cluster.get("node0")).delete("/v1/lvs/vg/node0-0");
        assertEquals(3, Agents.client(cluster.get("node2")).get("/v1/vgs/vg").path("freeExtents").asInt());
        Agents.client(cluster.get("node2")).post("/v1/lvs", Map.of("vg", "vg", "name", "again", "size", 12L << 20));
        var full = assertThrows(AgentClientException.class, () -> Agents.client(cluster.get("node2")).post("/v1/lvs",
            Map.of("vg", "vg", "name", "nope", "size", 1)));
        assertEquals(507, full.status(), full.getMessage());
        assertTrue(full.getMessage().contains("has 0 MiB free on nodes that are up; 4 MiB are needed"), full.getMessage());
        // a PV in use cannot be taken out or removed
        assertEquals(409, assertThrows(AgentClientException.class, () -> Agents.client(cluster.get("node0"))
            .post("/v1/vgs/vg/reduce", Map.of("pvs", List.of(pvs.getFirst())))).status());
        assertEquals(409, assertThrows(AgentClientException.class, () -> Agents.client(cluster.get("node0"))
            .delete("/v1/pvs/" + AgentClient.encode(pvs.getFirst()))).status());
    }
}
