package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.block.pv.PhysicalVolumeLabel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code nines pv create aoe:eSHELF.SLOT --interface IF} on real agents against Debian's vblade,
 * which serves a file from a network namespace at the far end of a veth pair: the device becomes
 * node0's PV, a volume group and a volume are made on it, qemu-io writes through the volume's
 * NBD export (on node0, and on node1, which reaches node0's PV over NBD) and the bytes are found
 * in vblade's file; no target answering is a clear error that creates nothing; a killed vblade
 * fails I/O with an error naming the target, and a restarted one is found again.
 */
class AoePhysicalVolumeSystemTest extends ClusterSystemTest {
    private static final long MiB = 1 << 20;
    private String here;
    private String there;
    private String namespace;
    private Path backing;
    private Process vblade;

    @BeforeEach
    void vethAndVblade() throws Exception {
        assumeTrue("0".equals(run(List.of("id", "-u")).strip()), "needs root for a veth pair, a namespace and packet sockets");
        assumeTrue(Files.isExecutable(Path.of("/usr/sbin/vblade")), "vblade is not installed");
        String id = Long.toString(ProcessHandle.current().pid() % 100000);
        here = "apv" + id;
        there = "apt" + id;
        namespace = "apvns" + id;
        run(List.of("ip", "link", "add", here, "type", "veth", "peer", "name", there));
        run(List.of("ip", "netns", "add", namespace));
        run(List.of("ip", "link", "set", there, "netns", namespace));
        run(List.of("ip", "netns", "exec", namespace, "ip", "link", "set", there, "up"));
        run(List.of("ip", "link", "set", here, "up"));
        backing = dir.resolve("vblade.img");
        try (var channel = FileChannel.open(backing, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.wrap(new byte[1]), 64 * MiB - 1);
        }
        startVblade();
    }

    private void startVblade() throws IOException {
        vblade = new ProcessBuilder("ip", "netns", "exec", namespace, "vblade", "7", "1", there, backing.toString())
            .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("vblade.log").toFile())).start();
    }

    private void killVblade() throws InterruptedException {
        vblade.destroyForcibly();
        assertTrue(vblade.waitFor(10, TimeUnit.SECONDS));
    }

    @AfterEach
    void removeVethAndVblade() throws Exception {
        if (vblade != null) {
            killVblade();
        }
        if (here != null) {
            runQuietly(List.of("ip", "link", "del", here));
            runQuietly(List.of("ip", "netns", "del", namespace));
        }
    }

    private static String run(List<String> command) throws IOException, InterruptedException {
        return Commands.run(command);
    }

    private static void runQuietly(List<String> command) {
        try {
            run(command);
        } catch (IOException | InterruptedException e) {
            // gone already
        }
    }

    private static String qemuIo(String uri, String... commands) throws Exception {
        var command = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (String c : commands) {
            command.add("-c");
            command.add(c);
        }
        command.add(uri);
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), command + " did not finish");
        return out;
    }

    private static void qemuIoOk(String uri, String... commands) throws Exception {
        String out = qemuIo(uri, commands);
        assertFalse(out.contains("Pattern verification failed") || out.contains("failed") || out.contains("error"), out);
    }

    /** The 1 MiB chunks of vblade's file (after the 1 MiB label area) whose bytes from {@code from} to {@code to} are all {@code value}. */
    private List<Long> chunksHolding(int value, int from, int to) throws IOException {
        byte[] file = Files.readAllBytes(backing);
        var found = new ArrayList<Long>();
        for (long chunk = MiB; chunk + MiB <= file.length; chunk += MiB) {
            boolean all = true;
            for (int i = from; i < to && all; i++) {
                all = file[(int) chunk + i] == (byte) value;
            }
            if (all) {
                found.add(chunk);
            }
        }
        return found;
    }

    private AgentClient api(String node) {
        return Agents.client(cluster.get(node));
    }

    @Test
    void aVbladeDeviceBecomesAPhysicalVolumeThatVolumesOnEveryNodeWriteThrough() throws Exception {
        cluster = TestCluster.ofThree(dir);
        var node0 = cluster.get("node0");

        // checks before anything is stored or written
        Cli.assertOutcome(1, "no network interface 'nosuch0' on this node; nothing was created",
            Cli.nines(node0, "pv", "create", "aoe:e7.1", "--interface", "nosuch0"));
        long start = System.nanoTime();
        Cli.assertOutcome(1, "no AoE target e7.9 answered on " + here + " within 3 s; nothing was created",
            Cli.nines(node0, "pv", "create", "aoe:e7.9", "--interface", here));
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10), "discovery gives up after a few seconds");
        Cli.assertOutcome(2, "give the interface that reaches the target", Cli.nines(node0, "pv", "create", "aoe:e7.1"));
        Cli.assertOutcome(1, "slot 255 is outside 0..254", Cli.nines(node0, "pv", "create", "aoe:e7.255", "--interface", here));
        assertEquals(0, api("node0").get("/v1/pvs").size());
        assertTrue(PhysicalVolumeLabel.read(backing).isEmpty(), "nothing written on the device");

        var created = Cli.nines(node0, "pv", "create", "aoe:e7.1", "--interface", here, "--extent-size", "1M");
        String name = "node0:aoe:e7.1@" + here;
        Cli.assertOutcome(0, "physical volume " + name + " created", created);
        JsonNode pv = api("node0").get("/v1/pvs").get(0);
        assertEquals("aoe", pv.path("transport").asText());
        assertEquals(63 * MiB, pv.path("size").asLong(), "the size vblade's IDENTIFY gave, less the label area");
        assertEquals(pv.path("id").asText(), PhysicalVolumeLabel.read(backing).orElseThrow().id().toString(),
            "the label is on the AoE device, in vblade's file");
        var listed = Cli.nines(node0, "pv", "list");
        Cli.assertOutcome(0, name, listed);
        assertTrue(listed.out().contains("aoe"), listed.out());
        Cli.assertOutcome(1, "is already physical volume", Cli.nines(node0, "pv", "create", "aoe:e7.1", "--interface", here));

        Cli.assertOutcome(0, "volume group vg", Cli.nines(node0, "vg", "create", "vg", name));
        api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "disk", "size", 16 * MiB, "on", "node0"));
        JsonNode attached = api("node0").post("/v1/lvs/vg/disk/attach", Map.of("node", "node0"));
        String uri = attached.path("attachments").get(0).path("nbdUnixUri").asText();
        qemuIoOk(uri, "write -P 0x5a 1M 1M", "write -P 0x6b 2M 1M", "write -P 0x33 5242980 1000", "flush");
        qemuIoOk(uri, "read -P 0x5a 1M 1M", "read -P 0x6b 2M 1M", "read -P 0x33 5242980 1000", "read -P 0 5242880 100",
            "read -P 0 5243980 4096");
        assertEquals(1, chunksHolding(0x5a, 0, (int) MiB).size(), "the volume's 1 MiB of 0x5a is in vblade's file");
        assertEquals(1, chunksHolding(0x6b, 0, (int) MiB).size());
        var partial = chunksHolding(0x33, 100, 1100);
        assertEquals(1, partial.size(), "the 1000 bytes written inside sectors are in vblade's file");
        byte[] file = Files.readAllBytes(backing);
        for (int i = 0; i < 100; i++) {
            assertEquals(0, file[(int) (long) partial.getFirst() + i], "the bytes before them in their sector are kept");
        }

        // node1 serves the volume now: it reaches node0's AoE PV through node0's NBD export
        api("node0").post("/v1/lvs/vg/disk/detach", Map.of("node", "node0"));
        JsonNode moved = api("node1").post("/v1/lvs/vg/disk/attach", Map.of("node", "node1"));
        String uri1 = moved.path("attachments").get(0).path("nbdUnixUri").asText();
        qemuIoOk(uri1, "read -P 0x5a 1M 1M", "read -P 0x33 5242980 1000", "write -P 0x77 8M 64k", "flush");
        assertEquals(1, chunksHolding(0x77, 0, 64 << 10).size(), "node1's write went through node0 to vblade");

        // node0 restarts: its block service finds the target and reads the label again, and node1's engine reaches
        // the PV through node0 once more (a handshake that comes while the PV is being opened waits for it)
        node0.stopGracefully();
        node0.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        String out = "";
        while (System.nanoTime() < deadline) {
            out = qemuIo(uri1, "read -P 0x77 8M 64k");
            if (!out.contains("failed") && !out.contains("error")) {
                break;
            }
            Thread.sleep(500);
        }
        qemuIoOk(uri1, "read -P 0x5a 1M 1M", "write -P 0x78 9M 64k", "flush");
        assertEquals(1, chunksHolding(0x78, 0, 64 << 10).size(), "written after node0's restart: " + out);
        System.out.println("after node0's restart: " + out.strip().replace('\n', ' '));
        cluster.assertNoUnexpectedErrors();
    }

    @Test
    void aKilledTargetFailsIoWithAnErrorNamingItAndARestartedOneServesAgain() throws Exception {
        cluster = TestCluster.ofThree(dir);
        var node0 = cluster.get("node0");
        api("node0").put("/v1/config/aoe.timeout_ms", Map.of("value", "3000"));
        Cli.assertOutcome(0, "created", Cli.nines(node0, "pv", "create", "aoe:e7.1@" + here, "--extent-size", "1M"));
        Cli.assertOutcome(0, "volume group vg", Cli.nines(node0, "vg", "create", "vg", "node0:aoe:e7.1@" + here));
        api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "disk", "size", 8 * MiB, "on", "node0"));
        JsonNode attached = api("node0").post("/v1/lvs/vg/disk/attach", Map.of("node", "node0"));
        String uri = attached.path("attachments").get(0).path("nbdUnixUri").asText();
        qemuIoOk(uri, "write -P 0x11 0 1M", "flush");

        killVblade();
        long start = System.nanoTime();
        String out = qemuIo(uri, "write -P 0x22 1M 64k", "flush");
        long took = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
        System.out.println("a write to the killed target failed after " + took + " s: " + out.strip().replace('\n', ' ')
            + "; the agent logged " + node0.loggedErrors());
        assertTrue(out.contains("Input/output error"), out);
        assertTrue(took < 30, "the write failed after " + took + " s");
        String gone = "AoE target e7.1 on " + here + " did not answer for 3 s";
        assertTrue(blockHealth(node0).contains(gone), "the block service says which target is gone: " + blockHealth(node0));
        assertEquals(1, node0.loggedWarnings(gone).size(), "logged once: " + node0.loggedWarnings("AoE"));

        startVblade(); // vblade announces itself; the initiator also asks every second while the target is gone
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        String again = "";
        while (System.nanoTime() < deadline) {
            again = qemuIo(uri, "write -P 0x33 2M 64k", "flush");
            if (!again.contains("error") && !again.contains("failed")) {
                break;
            }
            Thread.sleep(500);
        }
        System.out.println("after vblade's restart, served again in " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - deadline
            + TimeUnit.SECONDS.toNanos(30)) + " ms");
        qemuIoOk(uri, "read -P 0x11 0 1M", "read -P 0x33 2M 64k");
        assertEquals(1, chunksHolding(0x33, 0, 64 << 10).size(), "written to vblade's file after its restart: " + again);
    }

    private String blockHealth(fivenines.testsupport.cluster.AgentProcess agent) {
        for (JsonNode plugin : Agents.client(agent).get("/v1/mcp/plugins")) {
            if (plugin.path("name").asText().equals("block")) {
                return plugin.toString();
            }
        }
        return "";
    }
}
