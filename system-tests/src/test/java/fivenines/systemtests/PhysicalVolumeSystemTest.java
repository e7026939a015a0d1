package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.testsupport.cluster.AgentProcess;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Physical volumes offered by one node, seen by all, served over NBD to real clients. */
class PhysicalVolumeSystemTest extends ClusterSystemTest {

    @Test
    void aPhysicalVolumeIsRegisteredServedOverNbdAndRemoved() throws Exception {
        cluster = TestCluster.ofThree(dir);
        AgentClient node1 = Agents.client(cluster.get("node1"));
        Path file = dir.resolve("pv-node1.img");
        JsonNode pv = node1.post("/v1/pvs", Map.of("path", file.toString(), "size", 64L << 20));
        assertEquals(15, pv.path("extents").asInt(), pv.toString());
        String tcpUri = pv.path("nbdUris").get(0).asText();
        String unixUri = pv.path("nbdUris").get(1).asText();
        assertTrue(tcpUri.startsWith("nbd://127.0.0.1:" + (cluster.get("node1").apiPort + 2) + "/pv-"), tcpUri);

        // every node sees it
        JsonNode listed = Agents.client(cluster.get("node2")).get("/v1/pvs");
        assertEquals(1, listed.size());
        assertEquals("node1:" + file, listed.get(0).path("name").asText());

        // TCP serves only TLS clients with a node certificate of the cluster (here node0's, as the engines use them)
        String export = tcpUri.substring(tcpUri.indexOf('/', "nbd://".length()) + 1);
        int port = cluster.get("node1").apiPort + 2;
        assertNotEquals(0, exitOf("qemu-io", "-f", "raw", "-c", "write -P 0x66 0 1M", tcpUri), "plain TCP is refused");
        Path pki = cluster.get("node0").dataDir.resolve("pki");
        run(tls(pki, port, export, "qemu-io", "-c", "write -P 0x5a 0 1M"));
        // real clients write over TLS and read back over the Unix socket; the data lands after the label
        run("qemu-io", "-f", "raw", "-c", "read -P 0x5a 0 1M", unixUri);
        assertTrue(run(tls(pki, port, export, "qemu-img", "info", "--output=json")).contains("\"virtual-size\": " + (60L << 20)));
        byte[] head = new byte[16];
        try (var channel = java.nio.channels.FileChannel.open(file)) {
            channel.read(java.nio.ByteBuffer.wrap(head), 0);
            assertEquals("FIVENINES-PV", new String(head, 0, 12, StandardCharsets.US_ASCII));
            var data = java.nio.ByteBuffer.allocate(1);
            channel.read(data, 1 << 20);
            assertEquals(0x5a, data.get(0));
        }

        // bad input changes nothing
        // (compared by the PVs the store holds: the applied index moves with every lease renewal)
        String before = node1.get("/v1/pvs").toString();
        var again = assertThrows(AgentClientException.class, () -> node1.post("/v1/pvs", Map.of("path", file.toString())));
        assertTrue(again.getMessage().contains("is already physical volume node1:" + file), again.getMessage());
        var missing = assertThrows(AgentClientException.class, () -> node1.post("/v1/pvs", Map.of("path", dir.resolve("none").toString())));
        assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
        var small = assertThrows(AgentClientException.class, () -> node1.post("/v1/pvs",
            Map.of("path", dir.resolve("small").toString(), "size", 4096)));
        assertEquals(400, small.status());
        assertFalse(Files.exists(dir.resolve("small")));
        assertEquals(before, node1.get("/v1/pvs").toString(), "refused registrations changed the physical volumes");

        // the node restarts: its export comes back
        AgentProcess holder = cluster.get("node1");
        holder.kill();
        holder.start();
        TestCluster.await(holder, s -> s.path("leader").isTextual(), java.time.Duration.ofSeconds(60), "a leader");
        run(tls(pki, port, export, "qemu-io", "-c", "read -P 0x5a 0 1M"));

        // removal from another node: the label is wiped on the holder and the export goes
        Agents.client(cluster.get("node0")).delete("/v1/pvs/" + AgentClient.encode("node1:" + file));
        for (int i = 0; i < 100 && head[0] != 0; i++) {
            Thread.sleep(100);
            try (var channel = java.nio.channels.FileChannel.open(file)) {
                head = new byte[16];
                channel.read(java.nio.ByteBuffer.wrap(head), 0);
            }
        }
        assertEquals(0, head[0], "label wiped");
        assertEquals(0, Agents.client(cluster.get("node2")).get("/v1/pvs").size());
        assertNotEquals(0, exitOf(tls(pki, port, export, "qemu-img", "info")));
    }

    /** A QEMU tool's command line for an NBD export over TLS with the certificates in {@code pki}. */
    static String[] tls(Path pki, int port, String export, String... tool) {
        var command = new java.util.ArrayList<>(java.util.List.of(tool));
        command.addAll(java.util.List.of("--object", "tls-creds-x509,id=tls0,endpoint=client,dir=" + pki, "--image-opts",
            "driver=raw,file.driver=nbd,file.host=127.0.0.1,file.port=" + port + ",file.export=" + export + ",file.tls-creds=tls0"));
        return command.toArray(String[]::new);
    }

    private static String run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, process.exitValue(), String.join(" ", command) + ": " + out);
        assertFalse(out.contains("Pattern verification failed"), out);
        return out;
    }

    private static int exitOf(String... command) throws Exception {
        Process process = new ProcessBuilder(List.of(command)).redirectErrorStream(true).start();
        process.getInputStream().readAllBytes();
        process.waitFor(60, TimeUnit.SECONDS);
        return process.exitValue();
    }
}
