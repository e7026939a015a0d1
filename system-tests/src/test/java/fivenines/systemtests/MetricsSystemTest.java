package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.testsupport.cluster.AgentProcess;
import fivenines.testsupport.metrics.PrometheusText;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code /metrics} on a cluster of three real agents, scraped as Prometheus would and read with a
 * strict parser of the text format: the write counters of a volume move by what qemu-io wrote
 * through it, the store's, the nodes', the legs' and the VMs' series are there, and a scrape
 * without the cluster credential or with a wrong one is refused.
 */
class MetricsSystemTest extends ClusterSystemTest {
    private static final long MiB = 1L << 20;
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    @Test
    void aScrapeOfEveryNodeShowsTheVolumesIoTheStoreTheLegsAndTheVmsAndRefusesAWrongCredential() throws Exception {
        cluster = TestCluster.ofThree(dir);
        String pv0 = pv("node0", "pv0.img", 64 * MiB);
        String pv1 = pv("node1", "pv1.img", 64 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv0, pv1)));
        api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "data", "size", 32 * MiB, "thin", true));
        api("node1").post("/v1/lvs", Map.of("vg", "vg", "name", "mirrored", "size", 8 * MiB, "mirrors", 1));
        defineVm("node0", "vm1");

        // attached on node2 (no disk of its own there): written through its NBD socket by qemu-io
        JsonNode attached = api("node0").post("/v1/lvs/vg/data/attach", Map.of("node", "node2", "shared", false, "force", false));
        String socket = attached.path("attachments").get(0).path("nbdUnixUri").asText();
        PrometheusText before = scrape(cluster.get("node2"));
        double writtenBefore = before.samples("nines_volume_written_bytes_total", "volume", "vg/data").stream()
            .mapToDouble(PrometheusText.Sample::value).sum();
        assertEquals(0, writtenBefore, "nothing written yet");
        String out = run("qemu-io", "-f", "raw", "-c", "write -P 0x5a 0 4M", "-c", "write -P 0x5b 6M 2M", "-c", "flush",
            "-c", "read -P 0x5a 0 1M", socket);
        assertFalse(out.contains("failed"), out);

        String text = get(cluster.get("node2"), cluster.get("node2").secret()).body();
        java.nio.file.Files.writeString(java.nio.file.Path.of("target", "metrics-node2.prom"), text); // to look at
        PrometheusText node2 = PrometheusText.parse(text);
        double written = node2.value("nines_volume_written_bytes_total", "volume", "vg/data");
        assertTrue(written >= 6 * MiB, "the write counter moved by at least the 6 MiB written: " + written);
        assertTrue(node2.value("nines_volume_writes_completed_total", "volume", "vg/data") >= 2);
        assertTrue(node2.value("nines_volume_read_bytes_total", "volume", "vg/data") >= MiB);
        assertTrue(node2.value("nines_volume_flush_requests_total", "volume", "vg/data") >= 1);
        assertEquals(0, node2.value("nines_volume_errors_total", "volume", "vg/data", "op", "write"));
        assertEquals("histogram", node2.family("nines_volume_request_duration_seconds").type());
        double writeRequests = node2.value("nines_volume_request_duration_seconds_count", "volume", "vg/data", "op", "write");
        assertEquals(node2.value("nines_volume_writes_completed_total", "volume", "vg/data"), writeRequests);
        assertEquals(writeRequests, node2.value("nines_volume_request_duration_seconds_bucket", "volume", "vg/data", "op", "write",
            "le", "+Inf"));
        assertTrue(node2.value("nines_volume_request_duration_seconds_sum", "volume", "vg/data", "op", "write") > 0);

        for (AgentProcess agent : cluster.agents) {
            PrometheusText metrics = scrape(agent);
            // I/O counters are this node's: only node2 serves vg/data
            assertEquals(agent.name.equals("node2"), !metrics.samples("nines_volume_written_bytes_total", "volume", "vg/data")
                .isEmpty(), agent.name);
            // the cluster's state, the same on every node
            for (String node : List.of("node0", "node1", "node2")) {
                assertEquals(1, metrics.value("nines_node_up", "node", node), agent.name + " " + node);
            }
            assertEquals(1, metrics.value("nines_guest_info", "name", "vm1", "state", "stopped", "node", ""), agent.name);
            assertEquals(0, metrics.value("nines_guest_up", "name", "vm1"), agent.name);
            assertEquals(32 * MiB, metrics.value("nines_volume_size_bytes", "volume", "vg/data"), agent.name);
            double allocated = awaitValue(agent, "nines_volume_allocated_bytes", 6 * MiB, "volume", "vg/data");
            assertEquals(allocated / (32 * MiB), scrape(agent).value("nines_volume_data_ratio", "volume", "vg/data"), 1e-9);
            assertEquals(2, metrics.samples("nines_leg_in_sync", "volume", "vg/mirrored").size(), agent.name);
            for (PrometheusText.Sample leg : metrics.samples("nines_leg_in_sync", "volume", "vg/mirrored")) {
                assertEquals(1, leg.value(), leg.toString());
                assertEquals(0, metrics.value("nines_leg_outofsync_bytes", "volume", "vg/mirrored", "leg", leg.labels().get("leg")));
            }
            assertTrue(metrics.samples("nines_leg_in_sync", "volume", "vg/data").isEmpty(), "one leg: not a mirror");
            // the store
            assertTrue(metrics.value("nines_store_applied_index") > 0, agent.name);
            assertTrue(metrics.value("nines_store_leader_changes_total") >= 1, agent.name);
            assertEquals("histogram", metrics.family("nines_store_commit_duration_seconds").type());
            // HA: nothing happened, but the series are there
            assertEquals(0, metrics.value("nines_ha_failovers_total"), agent.name);
            assertEquals(0, metrics.value("nines_ha_fence_attempts_total", "outcome", "fenced"), agent.name);
            assertTrue(metrics.family("jvm_memory_used_bytes").samples().size() > 0, "the JVM's own meters");
        }
        double leaders = 0;
        for (AgentProcess agent : cluster.agents) {
            leaders += scrape(agent).value("nines_store_is_leader");
        }
        assertEquals(1, leaders, "one leader");
        // node0 submitted the group, the volumes and the VM: their commits were timed there
        assertTrue(scrape(cluster.get("node0")).value("nines_store_commit_duration_seconds_count") >= 4);

        // the cluster credential as a bearer token; none or a wrong one is refused
        assertEquals(401, get(cluster.get("node1"), null).statusCode());
        assertEquals(401, get(cluster.get("node1"), "0".repeat(64)).statusCode());
        HttpResponse<String> good = get(cluster.get("node1"), cluster.get("node1").secret());
        assertEquals(200, good.statusCode());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", good.headers().firstValue("Content-Type").orElse(""));
        cluster.assertNoUnexpectedErrors();
    }

    // ---- helpers ----

    private static HttpResponse<String> get(AgentProcess agent, String token) throws IOException, InterruptedException {
        var request = HttpRequest.newBuilder(URI.create(agent.url() + "/metrics")).timeout(Duration.ofSeconds(30)).GET();
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    private static PrometheusText scrape(AgentProcess agent) throws IOException, InterruptedException {
        HttpResponse<String> response = get(agent, agent.secret());
        assertEquals(200, response.statusCode(), response.body());
        return PrometheusText.parse(response.body());
    }

    /** Waits until the value reaches at least {@code atLeast} (the engine commits its chunks within a moment). */
    private static double awaitValue(AgentProcess agent, String name, double atLeast, String... labels) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        double value;
        do {
            value = scrape(agent).value(name, labels);
            if (value >= atLeast) {
                return value;
            }
            AgentProcess.sleep(100);
        } while (System.nanoTime() < deadline);
        throw new AssertionError(agent.name + ": " + name + " " + List.of(labels) + " stayed at " + value + " < " + atLeast);
    }

    private AgentClient api(String node) {
        return Agents.client(cluster.get(node));
    }

    private String pv(String node, String file, long size) {
        return api(node).post("/v1/pvs", Map.of("path", dir.resolve(file).toString(), "size", size)).path("name").asText();
    }

    private void defineVm(String via, String name) {
        var definition = new LinkedHashMap<String, Object>();
        definition.put("name", name);
        definition.put("memoryMib", 64);
        definition.put("vcpus", 1);
        definition.put("boot", Map.of("kernel", dir.resolve("vmlinuz").toString(), "initrd", dir.resolve("initrd").toString(),
            "commandLine", "console=ttyS0"));
        definition.put("disks", List.of());
        definition.put("nics", List.of());
        definition.put("onCrash", "restart");
        definition.put("priority", 0);
        api(via).post("/v1/vms", Map.of("definition", definition));
    }

    private static String run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getOutputStream().close();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, process.exitValue(), String.join(" ", command) + ": " + out);
        return out;
    }

}
