package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.testsupport.cluster.AgentProcess;
import fivenines.testsupport.guest.TestGuest;
import fivenines.testsupport.guest.WorkloadVerifier;
import fivenines.testsupport.fence.IpmiSimulator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fencing a hung node through a real BMC: node1's agent is SIGSTOPped with its HA guest's QEMU still
 * running, so node1 cannot kill its guest itself. The manager declares it down, waits for its lease,
 * then runs fence_ipmilan against OpenIPMI's ipmi_sim, whose chassis control powers the simulated
 * node1 off by killing its agent and its QEMU. Only then does the guest start on a survivor, and its
 * disk holds every record it acknowledged.
 */
class IpmiFailoverSystemTest extends ClusterSystemTest {
    private static final Pattern ACKNOWLEDGED = Pattern.compile("^NINES-WORKLOAD seq=(\\d+)$");
    private IpmiSimulator simulator;

    @AfterEach
    void killGuests() throws Exception {
        if (cluster != null) {
            if (cluster.get("node1").alive()) {
                cluster.get("node1").resume(); // the test failed before the BMC powered it off
            }
            cluster.close();
            cluster = null;
        }
        if (simulator != null) {
            simulator.close();
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
    void aHungNodeIsPoweredOffThroughItsBmcBeforeItsGuestRunsOnASurvivor() throws Exception {
        for (String tool : List.of("/usr/bin/ipmi_sim", "/usr/bin/ipmitool", "/usr/sbin/fence_ipmilan")) {
            assertTrue(Files.isExecutable(Path.of(tool)), tool + " is missing: scripts/install-deps installs openipmi, ipmitool"
                + " and fence-agents");
        }
        long t0 = System.nanoTime();
        TestGuest guest = TestGuest.build();
        cluster = TestCluster.ofThree(dir);
        assertOk(cli("node0", "config", "set", "cluster.dead_after_seconds", "3"));
        // the guest's disk is mirrored, one leg on the node that will hang, the other on node2
        String pv1 = api("node1").post("/v1/pvs", Map.of("path", dir.resolve("disk1.img").toString(), "size", 128L << 20))
            .path("name").asText();
        String pv2 = api("node2").post("/v1/pvs", Map.of("path", dir.resolve("disk2.img").toString(), "size", 128L << 20))
            .path("name").asText();
        api("node0").post("/v1/vgs", Map.of("name", "ipmi", "pvs", List.of(pv1, pv2)));
        assertOk(cli("node0", "lv", "create", "-n", "web", "-L", "64M", "--thin", "-m", "1", "--on", "node1", "ipmi"));
        AgentProcess node1 = cluster.get("node1");
        long agentPid = agentPid(node1);
        int port = startBmc(agentPid, node1.dataDir.resolve("vms/web/qemu.pid"));
        assertOk(cli("node0", "fence", "device", "add", "bmc1", "fence_ipmilan", "ip=127.0.0.1", "ipport=" + port,
            "username=admin", "password=secret", "lanplus=1", "cipher=3"));
        assertOk(cli("node0", "fence", "method", "add", "node1", "ipmi", "--device", "bmc1"));
        var test = cli("node0", "fence", "test", "node1");
        assertOk(test);
        assertTrue(test.out().lines().anyMatch(l -> l.startsWith("ipmi") && l.contains("bmc1") && l.contains("yes")),
            "the BMC answers: " + test.out());
        assertOk(cli("node0", "vm", "create", "web", "-m", "128", "--kernel", guest.kernel().toString(), "--initrd",
            guest.initrd().toString(), "--append", TestGuest.writeWorkloadCommandLine(), "--disk", "ipmi/web",
            "--nic", "52:54:00:00:00:51", "--ha", "on"));
        assertOk(cli("node0", "vm", "start", "web", "--node", "node1"));
        awaitAcknowledged("web", 5, Duration.ofSeconds(180));
        long qemu = Long.parseLong(Files.readString(node1.dataDir.resolve("vms/web/qemu.pid")).strip());
        lap(t0, "web writing on node1 (agent " + agentPid + ", QEMU " + qemu + ")");

        // node1 hangs: its agent stops where it is, its QEMU goes on (its disk requests wait on the stopped agent)
        node1.pause();
        long acknowledgedBefore = acknowledged(Files.readString(node1.dataDir.resolve("vms/web/console.log")));
        JsonNode moved = awaitVm(v -> v.path("phase").asText().equals("running") && !v.path("node").asText().equals("node1"),
            Duration.ofSeconds(120));
        lap(t0, "web runs on " + moved.path("node").asText());
        assertFalse(ProcessHandle.of(qemu).map(ProcessHandle::isAlive).orElse(false), "the BMC killed node1's QEMU");
        assertFalse(ProcessHandle.of(agentPid).map(ProcessHandle::isAlive).orElse(false), "and its agent");
        JsonNode node = null;
        for (JsonNode n : api("node0").get("/v1/ha/status").path("nodes")) {
            if (n.path("name").asText().equals("node1")) {
                node = n;
            }
        }
        assertTrue(node != null && node.path("fencing").asText().equals("fenced"), String.valueOf(node));
        assertTrue(node.path("fencingDetail").asText().contains("ipmi"), node.toString());
        assertEquals("0", Files.readString(dir.resolve("power")).strip(), "node1 is powered off");
        long there = awaitAcknowledged("web", acknowledgedBefore + 3, Duration.ofSeconds(180));
        lap(t0, "workload going on there: " + there);
        // on node2's leg alone: node1's leg, on a node that hung and was powered off, is out of the set
        JsonNode mirror = api("node0").get("/v1/lvs/ipmi/web");
        assertTrue(mirror.path("health").asText().startsWith("degraded"), mirror.toString());
        for (JsonNode leg : mirror.path("legs")) {
            assertEquals(leg.path("node").asText().equals("node1") ? "out" : "in-sync", leg.path("state").asText(), mirror.toString());
        }

        assertOk(cli("node0", "vm", "stop", "web", "--force"));
        long last = acknowledged(api("node0").get("/v1/vms/web/console?bytes=" + (4 << 20) + "&node="
            + moved.path("node").asText()).path("text").asText());
        Path image = dir.resolve("web.img");
        assertOk(cli("node0", "lv", "export", "ipmi/web", image.toString()));
        var disk = WorkloadVerifier.verify(image);
        disk.requireHolds(last);
        assertTrue(disk.intact(), "no interleaving of two writers: " + disk);
        lap(t0, "disk verified: " + disk.lastSequence() + " records");
    }

    /** ipmi_sim on a loopback UDP port; powering off kills node1's agent and the QEMU whose pid file is given. */
    private int startBmc(long agentPid, Path qemuPidFile) throws Exception {
        simulator = IpmiSimulator.start(dir, "node1bmc",
            "kill -9 " + agentPid + "; [ -f " + qemuPidFile + " ] && kill -9 \"$(cat " + qemuPidFile + ")\"");
        return simulator.port();
    }

    private static long agentPid(AgentProcess agent) {
        String data = agent.dataDir.toString();
        return ProcessHandle.current().descendants().filter(p -> p.info().commandLine().map(c -> c.contains(" agent ")
            && c.contains(" --data " + data + " ")).orElse(false)).findFirst().orElseThrow(() ->
            new AssertionError("no agent process with --data " + data)).pid();
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
        System.out.printf("IpmiFailoverSystemTest %6.1f s: %s%n", (System.nanoTime() - t0) / 1e9, what);
    }
}
