package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.testsupport.cluster.AgentProcess;
import fivenines.testsupport.guest.TestGuest;
import fivenines.testsupport.guest.WorkloadVerifier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Maintenance mode with real agents and a real guest: 'nines node maintenance enable node1'
 * live-migrates the HA guest writing on node1 to another node and marks node1 so nothing new goes
 * there; 'disable' brings it back. The guest is never restarted and its disk holds every record it
 * acknowledged. Bad requests (an unknown node, the last node out of maintenance) change nothing.
 */
class MaintenanceSystemTest extends ClusterSystemTest {
    private static final Pattern ACKNOWLEDGED = Pattern.compile("^NINES-WORKLOAD seq=(\\d+)$");

    @AfterEach
    void killGuests() throws Exception {
        if (cluster != null) {
            cluster.close();
            cluster = null;
        }
        for (ProcessHandle process : ProcessHandle.allProcesses().toList()) {
            String commandLine = process.info().commandLine().orElse("");
            if (commandLine.contains("qemu-system") && commandLine.contains(dir.toString())) {
                process.destroyForcibly();
                process.onExit().get();
            }
        }
    }

    @Test
    void maintenanceDrainsANodeByLiveMigrationAndBringsItsGuestBackStillRunning() throws Exception {
        long t0 = System.nanoTime();
        TestGuest guest = TestGuest.build();
        cluster = TestCluster.ofThree(dir);
        String pv = api("node2").post("/v1/pvs", Map.of("path", dir.resolve("disk2.img").toString(), "size", 128L << 20))
            .path("name").asText();
        api("node0").post("/v1/vgs", Map.of("name", "mt", "pvs", List.of(pv)));
        api("node0").post("/v1/lvs", Map.of("vg", "mt", "name", "web", "size", 64L << 20, "thin", true));
        assertOk(cli("node0", "vm", "create", "web", "-m", "128", "--kernel", guest.kernel().toString(), "--initrd",
            guest.initrd().toString(), "--append", TestGuest.writeWorkloadCommandLine(), "--disk", "mt/web",
            "--nic", "52:54:00:00:00:41", "--ha", "on"));
        assertOk(cli("node0", "vm", "start", "web", "--node", "node1"));
        awaitAcknowledged("web", 5, Duration.ofSeconds(180));
        lap(t0, "guest writing on node1");

        // bad requests: clear errors, nothing changed
        var unknown = cli("node0", "node", "maintenance", "enable", "node9");
        assertNotEquals(0, unknown.exit());
        assertTrue(unknown.err().contains("no node 'node9'") && unknown.err().contains("nothing was changed"), unknown.err());
        assertTrue(api("node0").get("/v1/nodes").path("nodes").findValues("maintenance").stream().noneMatch(JsonNode::asBoolean));

        // enable: the guest leaves node1 by live migration
        var enable = cli("node0", "node", "maintenance", "enable", "node1");
        assertOk(enable);
        assertTrue(enable.out().contains("maintenance of node1: web node1 -> "), enable.out());
        assertTrue(enable.out().contains("node node1 is in maintenance"), enable.out());
        JsonNode away = awaitVm(v -> v.path("phase").asText().equals("running") && !v.path("node").asText().equals("node1")
            && v.path("migratingTo").asText(null) == null, Duration.ofSeconds(60));
        String refuge = away.path("node").asText();
        lap(t0, "drained to " + refuge + ": " + enable.out().strip().replace('\n', '|'));
        long onNode1 = acknowledged(console("web", "node1"));
        long there = awaitAcknowledged("web", onNode1 + 5, Duration.ofSeconds(60));
        String refugeConsole = console("web", refuge);
        assertEquals(0, count(refugeConsole, TestGuest.UP_LINE), "live, not restarted: " + refugeConsole);
        assertEquals(0, count(refugeConsole, "NINES-WORKLOAD resume"), refugeConsole);

        var list = cli("node0", "node", "list");
        assertOk(list);
        assertTrue(list.out().lines().anyMatch(l -> l.startsWith("node1") && l.contains("on (to bring back: web)")), list.out());
        var ha = cli("node2", "ha", "status");
        assertOk(ha);
        assertTrue(ha.out().lines().anyMatch(l -> l.startsWith("node1") && l.contains("to bring back: web")), ha.out());
        // node1 takes nothing new: an explicit migration there is refused
        var refused = cli("node0", "vm", "migrate", "web", "node1");
        assertNotEquals(0, refused.exit());
        assertTrue(refused.err().contains("in maintenance"), refused.out() + refused.err());
        // the last node out of maintenance cannot go in: its guest would have nowhere to go
        String other = refuge.equals("node0") ? "node2" : "node0";
        assertOk(cli("node0", "node", "maintenance", "enable", other));
        var last = cli("node0", "node", "maintenance", "enable", refuge);
        assertNotEquals(0, last.exit());
        assertTrue(last.err().contains("last node that is up and out of maintenance"), last.err());
        assertEquals(refuge, awaitVm(v -> true, Duration.ofSeconds(5)).path("node").asText());
        assertOk(cli("node0", "node", "maintenance", "disable", other));
        lap(t0, "refusals checked");

        // disable: it comes back, still the same running guest
        var disable = cli("node2", "node", "maintenance", "disable", "node1");
        assertOk(disable);
        assertTrue(disable.out().contains("return of node1: web " + refuge + " -> node1"), disable.out());
        awaitVm(v -> v.path("phase").asText().equals("running") && v.path("node").asText().equals("node1")
            && v.path("migratingTo").asText(null) == null, Duration.ofSeconds(60));
        long atRefuge = acknowledged(console("web", refuge));
        long home = awaitAcknowledged("web", atRefuge + 5, Duration.ofSeconds(60));
        String homeConsole = console("web", "node1");
        assertEquals(0, count(homeConsole, TestGuest.UP_LINE), "live, not restarted: " + homeConsole);
        assertTrue(atRefuge > there && home > atRefuge, there + " then " + atRefuge + " then " + home);
        assertTrue(api("node0").get("/v1/nodes").path("nodes").findValues("maintenance").stream().noneMatch(JsonNode::asBoolean));
        lap(t0, "back on node1: " + disable.out().strip().replace('\n', '|'));

        // its disk holds every record it acknowledged
        assertOk(cli("node0", "vm", "stop", "web", "--force"));
        // killed only once node1 knows the guest is wanted stopped: otherwise node1 took the kill for a crash
        // and started a new QEMU (a new console, without the records the old one acknowledged)
        String log = api("node0").get("/v1/vms/web/log?bytes=" + (1 << 20) + "&node=node1").path("text").asText();
        assertEquals(0, count(log, "restarted after"), log);
        long lastAcknowledged = acknowledged(console("web", "node1"));
        Path image = dir.resolve("web.img");
        assertOk(cli("node0", "lv", "export", "mt/web", image.toString()));
        var disk = WorkloadVerifier.verify(image);
        disk.requireHolds(lastAcknowledged);
        assertTrue(disk.intact(), disk.toString());
        lap(t0, "disk verified: " + disk.lastSequence() + " records");
    }

    // ---- helpers ----

    private AgentClient api(String node) throws IOException {
        AgentProcess agent = cluster.get(node);
        return Agents.client(agent, agent.secret(), Duration.ofSeconds(120));
    }

    private Cli.Outcome cli(String node, String... arguments) throws IOException, InterruptedException {
        return Cli.run(cluster.get(node).cliEnvironment(), arguments);
    }

    private static void assertOk(Cli.Outcome outcome) {
        assertEquals(0, outcome.exit(), outcome.out() + outcome.err());
    }

    private JsonNode awaitVm(Predicate<JsonNode> condition, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        JsonNode last = null;
        while (System.nanoTime() < deadline) {
            try {
                last = api("node0").get("/v1/vms/web");
                if (condition.test(last)) {
                    return last;
                }
            } catch (AgentClientException e) {
                // electing
            }
            AgentProcess.sleep(200);
        }
        throw new AssertionError("VM web not as expected within " + timeout + ": " + last);
    }

    private String console(String name, String node) throws IOException {
        return api("node0").get("/v1/vms/" + name + "/console?bytes=" + (4 << 20) + "&node=" + node).path("text").asText();
    }

    private static int count(String text, String what) {
        int n = 0;
        for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }

    private static long acknowledged(String text) {
        long highest = 0;
        int end = text.lastIndexOf('\n');
        for (String line : end < 0 ? List.<String>of() : text.substring(0, end).lines().map(l -> l.replace("\r", "")).toList()) {
            Matcher m = ACKNOWLEDGED.matcher(line);
            if (m.matches()) {
                highest = Math.max(highest, Long.parseLong(m.group(1)));
            }
        }
        return highest;
    }

    private long awaitAcknowledged(String name, long atLeast, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String text = "";
        while (System.nanoTime() < deadline) {
            try {
                text = api("node0").get("/v1/vms/" + name + "/console?bytes=" + (4 << 20)).path("text").asText();
            } catch (AgentClientException e) {
                // moving
            }
            long seen = acknowledged(text);
            if (seen >= atLeast) {
                return seen;
            }
            AgentProcess.sleep(500);
        }
        throw new AssertionError("VM " + name + " did not acknowledge record " + atLeast + " within " + timeout + "; console ends: "
            + text.substring(Math.max(0, text.length() - 1500)));
    }

    private static void lap(long t0, String what) {
        System.out.printf("MaintenanceSystemTest %6.1f s: %s%n", (System.nanoTime() - t0) / 1e9, what);
    }
}
