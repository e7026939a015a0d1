package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.block.aoe.AoeInitiator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code nines aoe export|unexport|list} on a real agent: a volume attached on node0 served as AoE
 * on one end of a veth pair, written by an AoE initiator on the other end and read back through
 * the volume's NBD export (and the other way round); bad input changes nothing; a detached
 * volume takes no more AoE writes (its engine, and so its epoch, is gone).
 */
class AoeSystemTest extends ClusterSystemTest {
    private static final long MiB = 1 << 20;
    private String here;
    private String there;

    @AfterEach
    void removeVeth() throws Exception {
        if (here != null) {
            run(List.of("ip", "link", "del", here));
        }
    }

    private static String run(List<String> command) throws IOException, InterruptedException {
        return Commands.run(command);
    }

    private static void qemuIo(String uri, String... commands) throws Exception {
        var command = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (String c : commands) {
            command.add("-c");
            command.add(c);
        }
        command.add(uri);
        String out = run(command);
        assertTrue(!out.contains("Pattern verification failed") && !out.contains("failed"), out);
    }

    private AgentClient api() {
        return Agents.client(cluster.get("node0"));
    }

    @Test
    void aVolumeServedOverAoeIsTheVolumeNbdServes() throws Exception {
        assumeTrue("0".equals(run(List.of("id", "-u")).strip()), "needs root for a veth pair and packet sockets");
        String id = Long.toString(ProcessHandle.current().pid() % 100000);
        here = "aos" + id;
        there = "aoc" + id;
        run(List.of("ip", "link", "add", here, "type", "veth", "peer", "name", there));
        run(List.of("ip", "link", "set", here, "up"));
        run(List.of("ip", "link", "set", there, "up"));

        cluster = TestCluster.ofThree(dir);
        String pv = api().post("/v1/pvs", Map.of("path", dir.resolve("pv0.img").toString(), "size", 64 * MiB)).path("name").asText();
        api().post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv)));
        api().post("/v1/lvs", Map.of("vg", "vg", "name", "disk", "size", 16 * MiB, "on", "node0"));
        var node0 = cluster.get("node0");

        // bad input: a clear error, nothing exported
        Cli.assertOutcome(1, "no logical volume or physical volume 'vg/nope'",
            Cli.nines(node0, "aoe", "export", "vg/nope", "--shelf", "4", "--slot", "1", "--interface", here));
        Cli.assertOutcome(1, "not served on this node",
            Cli.nines(node0, "aoe", "export", "vg/disk", "--shelf", "4", "--slot", "1", "--interface", here));
        JsonNode attached = api().post("/v1/lvs/vg/disk/attach", Map.of("node", "node0"));
        String uri = attached.path("attachments").get(0).path("nbdUnixUri").asText();
        Cli.assertOutcome(1, "no network interface 'nosuch0'",
            Cli.nines(node0, "aoe", "export", "vg/disk", "--shelf", "4", "--slot", "1", "--interface", "nosuch0"));
        Cli.assertOutcome(1, "slot 255 is outside 0..254",
            Cli.nines(node0, "aoe", "export", "vg/disk", "--shelf", "4", "--slot", "255", "--interface", here));
        assertEquals(0, api().get("/v1/aoe/exports").size());

        Cli.assertOutcome(0, "vg/disk exported as e4.1 on " + here,
            Cli.nines(node0, "aoe", "export", "vg/disk", "--shelf", "4", "--slot", "1", "--interface", here));
        Cli.assertOutcome(1, "e4.1 is already exported here",
            Cli.nines(node0, "aoe", "export", pv, "--shelf", "4", "--slot", "1", "--interface", here));
        assertEquals(1, api().get("/v1/aoe/exports").size());

        try (var initiator = AoeInitiator.connect(there, 4, 1, Duration.ofSeconds(10))) {
            assertEquals(16 * MiB / 512, initiator.sectors());
            byte[] pattern = new byte[(int) MiB];
            Arrays.fill(pattern, (byte) 0x5a);
            initiator.write(2 * MiB / 512, (int) (MiB / 512), pattern, 0);
            // acknowledged over AoE: the volume's NBD export has it
            qemuIo(uri, "read -P 0x5a 2M 1M", "read -P 0 0 2M");
            qemuIo(uri, "write -P 0x6b 5M 64k", "flush");
            byte[] back = new byte[64 * 1024];
            initiator.read(5 * MiB / 512, 128, back, 0);
            byte[] expected = new byte[64 * 1024];
            Arrays.fill(expected, (byte) 0x6b);
            assertArrayEquals(expected, back);

            var listed = Cli.nines(node0, "aoe", "list");
            Cli.assertOutcome(0, "e4.1", listed);
            assertTrue(listed.out().contains("vg/disk") && listed.out().contains(here), listed.toString());

            // detached: the engine and its epoch are gone, AoE writes are refused ("device unavailable")
            api().post("/v1/lvs/vg/disk/detach", Map.of("node", "node0"));
            var refused = assertThrows(IOException.class, () -> initiator.write(0, 1, new byte[512], 0));
            assertTrue(refused.getMessage().contains("answered error 3"), refused.getMessage());
        }
        Cli.assertOutcome(0, "e4.1 (vg/disk) no longer served", Cli.nines(node0, "aoe", "unexport", "e4.1"));
        Cli.assertOutcome(1, "no AoE export e4.1", Cli.nines(node0, "aoe", "unexport", "e4.1"));
        assertEquals(0, api().get("/v1/aoe/exports").size());
    }
}
