package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.testsupport.cluster.AgentProcess;
import fivenines.testsupport.cluster.Lan;
import fivenines.testsupport.guest.TestGuest;
import fivenines.testsupport.guest.WorkloadVerifier;
import fivenines.vm.qemu.QemuProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * High availability with real agents and a real guest: the node running an HA VM dies (its
 * agent and its QEMU killed with SIGKILL together); its disk is on a volume of a third node. The
 * VM waits for the dead node's lease to end and for its fencing (here the seed's manual fencing,
 * so it waits for 'nines fence ack'), then runs on a survivor, and the disk holds every record
 * the guest acknowledged before the death.
 */
class HaSystemTest extends ClusterSystemTest {
    private static final Pattern ACKNOWLEDGED = Pattern.compile("^NINES-WORKLOAD seq=(\\d+)$");
    private static final Pattern RESUMED = Pattern.compile("^NINES-WORKLOAD resume seq=(\\d+)$");

    private Lan lan;

    @AfterEach
    void killGuests() throws Exception {
        if (cluster != null) {
            cluster.close();
            cluster = null;
        }
        if (lan != null) {
            lan.close(); // a namespace goes only when nothing runs in it: after the agents
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
    void anHaGuestWhoseNodeDiesRunsOnASurvivorOnlyAfterItsFencingAndLosesNoAcknowledgedRecord() throws Exception {
        long t0 = System.nanoTime();
        TestGuest guest = TestGuest.build();
        cluster = TestCluster.ofThree(dir);
        assertOk(cli("node0", "config", "set", "cluster.dead_after_seconds", "3"));
        // the guest's disk is mirrored, one leg on the node that will die, the other on node2
        String pv1 = api("node1").post("/v1/pvs", Map.of("path", dir.resolve("disk1.img").toString(), "size", 128L << 20))
            .path("name").asText();
        String pv2 = api("node2").post("/v1/pvs", Map.of("path", dir.resolve("disk2.img").toString(), "size", 128L << 20))
            .path("name").asText();
        api("node0").post("/v1/vgs", Map.of("name", "ha", "pvs", List.of(pv1, pv2)));
        assertOk(cli("node0", "lv", "create", "-n", "web", "-L", "64M", "--thin", "-m", "1", "--on", "node1", "ha"));
        // node1's only fence method is the seed's last resort: a human
        assertOk(cli("node0", "fence", "device", "add", "human", "fence_manual"));
        assertOk(cli("node0", "fence", "method", "add", "node1", "last_resort", "--device", "human"));
        assertOk(cli("node0", "vm", "create", "web", "-m", "128", "--kernel", guest.kernel().toString(), "--initrd",
            guest.initrd().toString(), "--append", TestGuest.writeWorkloadCommandLine(), "--disk", "ha/web",
            "--nic", "52:54:00:00:00:31", "--ha", "on", "--priority", "5"));
        assertOk(cli("node0", "vm", "start", "web", "--node", "node1"));
        long before = awaitAcknowledged("web", 5, Duration.ofSeconds(180));
        var status = cli("node0", "ha", "status");
        assertOk(status);
        assertTrue(status.out().contains("watchdog: none"), "this machine has no watchdog, and says so: " + status.out());
        assertTrue(status.out().lines().anyMatch(l -> l.startsWith("web") && l.contains("started")), status.out());
        lap(t0, "web runs on node1, " + before + " records acknowledged");

        // node1 dies: its agent and its QEMU at once
        AgentProcess node1 = cluster.get("node1");
        Path vmDir = node1.dataDir.resolve("vms/web");
        long qemu = Long.parseLong(Files.readString(vmDir.resolve("qemu.pid")).strip());
        node1.kill();
        ProcessHandle.of(qemu).ifPresent(ProcessHandle::destroyForcibly);
        String lastWords = Files.readString(vmDir.resolve("console.log"));
        long acknowledgedBeforeDeath = acknowledged(lastWords);
        lap(t0, "node1 killed with QEMU " + qemu + " after " + acknowledgedBeforeDeath + " acknowledged records");

        // declared down, storage fenced, lease ended: waits for the operator, and moves nothing meanwhile
        JsonNode waiting = awaitHa("node0", v -> "waiting_for_fencing".equals(v.path("haState").asText())
            && v.path("why").asText().contains("nines fence ack node1"), Duration.ofSeconds(60));
        assertEquals("node1", waiting.path("node").asText(), waiting.toString());
        JsonNode volume = api("node0").get("/v1/lvs/ha/web");
        assertEquals(0, volume.path("attachments").size(), "node1's attachment went when it was declared down: " + volume);
        AgentProcess.sleep(2000);
        assertEquals("node1", api("node0").get("/v1/vms/web").path("node").asText(), "nothing moves before the ack");
        var shown = cli("node2", "ha", "status");
        assertOk(shown);
        assertTrue(shown.out().contains("waiting for fencing") && shown.out().contains("nines fence ack node1"), shown.out());
        lap(t0, "waiting for 'nines fence ack node1'");

        assertOk(cli("node2", "fence", "ack", "node1"));
        JsonNode moved = awaitVm("web", v -> v.path("phase").asText().equals("running") && !v.path("node").asText().equals("node1"),
            Duration.ofSeconds(60));
        String survivor = moved.path("node").asText();
        lap(t0, "web runs on " + survivor);
        long resumed = awaitResumed("web", Duration.ofSeconds(180));
        assertTrue(resumed >= acknowledgedBeforeDeath, "the guest found every record acknowledged before node1 died ("
            + acknowledgedBeforeDeath + ") and resumed after " + resumed);
        long after = awaitAcknowledged("web", resumed + 5, Duration.ofSeconds(180));
        JsonNode ha = awaitHa("node0", v -> "started".equals(v.path("haState").asText()), Duration.ofSeconds(30));
        assertEquals(1, ha.path("relocations").asInt(), ha.toString());
        // the disk runs on its surviving leg, shown degraded with node1's leg out of the set
        JsonNode mirror = api("node0").get("/v1/lvs/ha/web");
        assertTrue(mirror.path("health").asText().startsWith("degraded"), mirror.toString());
        for (JsonNode leg : mirror.path("legs")) {
            assertEquals(leg.path("node").asText().equals("node1") ? "out" : "in-sync", leg.path("state").asText(), mirror.toString());
        }

        // stopped: its disk holds every record acknowledged on both nodes
        JsonNode stopped = api("node0").post("/v1/vms/web/stop", Map.of());
        assertEquals("stopped", stopped.path("phase").asText(), stopped.toString());
        long last = acknowledged(console("web"));
        assertTrue(last >= after);
        Path image = dir.resolve("web.raw");
        var exported = cli(survivor, "lv", "export", "ha/web", image.toString());
        if (exported.exit() != 0) {
            var said = new StringBuilder(exported.out() + exported.err() + "; the volume: " + api("node0").get("/v1/lvs/ha/web"));
            for (String node : List.of("node0", "node2")) {
                cluster.get(node).loggedWarnings("ha/web").forEach(line -> said.append("\n").append(node).append(": ").append(line));
            }
            throw new AssertionError("lv export failed: " + said);
        }
        var disk = WorkloadVerifier.verify(image);
        assertNotEquals(0, disk.lastSequence(), disk.toString());
        disk.requireHolds(last);
        lap(t0, "disk verified: " + disk.lastSequence() + " records, " + last + " acknowledged");
        for (String node : List.of("node0", "node2")) {
            var errors = cluster.get(node).loggedErrors();
            assertTrue(errors.isEmpty(), node + " logged errors: " + errors);
        }
    }

    @Test
    void aNodeCutOffKillsItsHaGuestBeforeItsLeaseEndsAndTheGuestRunsElsewhereOnlyAfterAndNeverOnTwoNodes() throws Exception {
        long t0 = System.nanoTime();
        TestGuest guest = TestGuest.build();
        lan = new Lan("ha" + ProcessHandle.current().pid() % 10_000, (int) (ProcessHandle.current().pid() % 200) + 30, 3);
        cluster = TestCluster.ofThree(dir, lan);
        assertOk(cli("node0", "config", "set", "cluster.dead_after_seconds", "3"));
        // the guest's disk is mirrored, one leg on the node that will be cut off, the other on node2
        String pv1 = api("node1").post("/v1/pvs", Map.of("path", dir.resolve("disk1.img").toString(), "size", 128L << 20))
            .path("name").asText();
        String pv2 = api("node2").post("/v1/pvs", Map.of("path", dir.resolve("disk2.img").toString(), "size", 128L << 20))
            .path("name").asText();
        api("node0").post("/v1/vgs", Map.of("name", "ha", "pvs", List.of(pv1, pv2)));
        assertOk(cli("node0", "lv", "create", "-n", "web", "-L", "64M", "--thin", "-m", "1", "--on", "node1", "ha"));
        // node1 is fenced through a real agent: Debian's fence_dummy, its power state in a file
        Path power = dir.resolve("node1.power");
        Files.writeString(power, "on");
        assertOk(cli("node0", "fence", "device", "add", "pdu", "fence_dummy", "status_file=" + power));
        assertOk(cli("node0", "fence", "method", "add", "node1", "power", "--device", "pdu"));
        assertOk(cli("node0", "vm", "create", "web", "-m", "128", "--kernel", guest.kernel().toString(), "--initrd",
            guest.initrd().toString(), "--append", TestGuest.writeWorkloadCommandLine(), "--disk", "ha/web",
            "--nic", "52:54:00:00:00:32", "--ha", "on"));
        assertOk(cli("node0", "vm", "start", "web", "--node", "node1"));
        awaitAcknowledged("web", 5, Duration.ofSeconds(180));
        AgentProcess node1 = cluster.get("node1");
        Path oldDir = node1.dataDir.resolve("vms/web");
        long qemu = Long.parseLong(Files.readString(oldDir.resolve("qemu.pid")).strip());
        lap(t0, "web runs on node1 (QEMU " + qemu + ")");

        // node1 is cut off with everything on it still running
        lan.cut(List.of(1), List.of(0, 2));
        JsonNode moved = awaitVm("web", v -> v.path("phase").asText().equals("running") && !v.path("node").asText().equals("node1"),
            Duration.ofSeconds(90));
        String survivor = moved.path("node").asText();
        lap(t0, "web runs on " + survivor);
        if (QemuProcess.isQemuAlive(qemu)) {
            var said = new StringBuilder("node1 killed its own QEMU " + qemu + " (" + procStat(qemu) + ")");
            node1.loggedWarnings("lease").forEach(line -> said.append("\nnode1: ").append(line));
            throw new AssertionError(said.toString());
        }
        assertEquals("off", Files.readString(power).strip(), "node1 was fenced through fence_dummy");
        // killed by the lease thread or by the controller, whichever saw first that the lease is gone
        Instant killed = eventAt(oldDir, "QEMU killed: this node");
        Instant started = eventAt(cluster.get(survivor).dataDir.resolve("vms/web"), "started QEMU");
        assertTrue(killed.isBefore(started), "node1 killed its guest at " + killed + ", before the new one started at " + started);
        long acknowledgedOnNode1 = acknowledged(Files.readString(oldDir.resolve("console.log")));
        long resumed = awaitResumed("web", Duration.ofSeconds(180));
        assertTrue(resumed >= acknowledgedOnNode1, "every record node1's guest acknowledged (" + acknowledgedOnNode1
            + ") is on the disk the new guest found (" + resumed + ")");
        long after = awaitAcknowledged("web", resumed + 5, Duration.ofSeconds(180));
        lap(t0, "node1's guest died at " + killed + ", the new one started at " + started + "; resumed after " + resumed);
        // the new writer runs on node2's leg; node1's leg, cut off, is out of the set
        JsonNode degraded = api("node0").get("/v1/lvs/ha/web");
        for (JsonNode leg : degraded.path("legs")) {
            assertEquals(leg.path("node").asText().equals("node1") ? "out" : "in-sync", leg.path("state").asText(), degraded.toString());
        }

        // healed: node1 is heard again, rejoins clean and starts nothing it lost
        lan.heal();
        TestCluster.await(cluster.get("node0"), st -> {
            for (JsonNode n : st.path("nodes")) {
                if (n.path("name").asText().equals("node1") && n.path("state").asText().equalsIgnoreCase("up")) {
                    return true;
                }
            }
            return false;
        }, Duration.ofSeconds(60), "node1 up again");
        AgentProcess.sleep(5000);
        assertEquals(survivor, api("node0").get("/v1/vms/web").path("node").asText());
        assertTrue(!Files.exists(oldDir.resolve("qemu.pid")) || !QemuProcess.isQemuAlive(Long.parseLong(Files.readString(
            oldDir.resolve("qemu.pid")).strip())), "node1 runs no QEMU for web");
        // node1's leg is resynced from node2's with what it missed, while the guest goes on writing
        JsonNode synced = awaitLegsInSync(Duration.ofSeconds(120));
        lap(t0, "node1's leg in sync again: " + synced.path("legs"));

        JsonNode stopped = api("node0").post("/v1/vms/web/stop", Map.of());
        assertEquals("stopped", stopped.path("phase").asText(), stopped.toString());
        long last = acknowledged(console("web"));
        assertTrue(last >= after);
        Path image = dir.resolve("web.raw");
        assertOk(cli(survivor, "lv", "export", "ha/web", image.toString()));
        var disk = WorkloadVerifier.verify(image);
        disk.requireHolds(last);
        assertTrue(disk.intact(), "no interleaving of two writers: " + disk);
        var check = cli(survivor, "lv", "check", "ha/web");
        assertOk(check); // both legs alike, chunk by chunk: the cut-off side's late writes did not land on either
        lap(t0, "disk verified: " + disk.lastSequence() + " records, " + last + " acknowledged");
    }

    private JsonNode awaitLegsInSync(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            JsonNode volume = api("node0").get("/v1/lvs/ha/web");
            boolean all = volume.path("legs").size() > 1;
            for (JsonNode leg : volume.path("legs")) {
                all &= leg.path("state").asText().equals("in-sync");
            }
            if (all) {
                return volume;
            }
            if (System.nanoTime() >= deadline) {
                var said = new StringBuilder("legs not in sync within " + timeout + ": " + volume);
                for (String node : List.of("node0", "node1", "node2")) {
                    cluster.get(node).loggedInfo("ha/web").forEach(line -> said.append("\n").append(node).append(": ").append(line));
                }
                throw new AssertionError(said.toString());
            }
            AgentProcess.sleep(500);
        }
    }

    /** When the VM's events log on a node first says {@code what}. */
    private static Instant eventAt(Path vmDir, String what) throws IOException {
        for (String line : Files.readAllLines(vmDir.resolve("events.log"))) {
            if (line.contains(what)) {
                return Instant.parse(line.substring(0, line.indexOf(' ')));
            }
        }
        throw new AssertionError("no '" + what + "' in " + vmDir.resolve("events.log") + ": "
            + Files.readString(vmDir.resolve("events.log")));
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

    private JsonNode awaitHa(String via, Predicate<JsonNode> condition, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        JsonNode last = null;
        while (System.nanoTime() < deadline) {
            try {
                for (JsonNode vm : api(via).get("/v1/ha/status").path("vms")) {
                    if (vm.path("name").asText().equals("web")) {
                        last = vm;
                        if (condition.test(vm)) {
                            return vm;
                        }
                    }
                }
            } catch (AgentClientException e) {
                // electing
            }
            AgentProcess.sleep(200);
        }
        throw new AssertionError("HA state not as expected within " + timeout + ": " + last);
    }

    private JsonNode awaitVm(String name, Predicate<JsonNode> condition, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        JsonNode last = null;
        while (System.nanoTime() < deadline) {
            try {
                last = api("node0").get("/v1/vms/" + name);
                if (condition.test(last)) {
                    return last;
                }
            } catch (AgentClientException e) {
                // electing
            }
            AgentProcess.sleep(200);
        }
        throw new AssertionError("VM " + name + " not as expected within " + timeout + ": " + last);
    }

    private String console(String name) throws IOException {
        return api("node0").get("/v1/vms/" + name + "/console?bytes=" + (4 << 20)).path("text").asText();
    }

    private static List<String> lines(String text) {
        int end = text.lastIndexOf('\n');
        return end < 0 ? List.of() : text.substring(0, end).lines().map(l -> l.replace("\r", "")).toList();
    }

    private static long acknowledged(String text) {
        long highest = 0;
        for (String line : lines(text)) {
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
                text = console(name);
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

    private long awaitResumed(String name, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String text = "";
        while (System.nanoTime() < deadline) {
            try {
                text = console(name);
            } catch (AgentClientException e) {
                // starting
            }
            for (String line : lines(text)) {
                Matcher m = RESUMED.matcher(line);
                if (m.matches()) {
                    return Long.parseLong(m.group(1));
                }
            }
            AgentProcess.sleep(500);
        }
        throw new AssertionError("VM " + name + " did not start its workload within " + timeout + ": " + text);
    }

    private static void lap(long t0, String what) {
        System.out.printf("HaSystemTest %6.1f s: %s%n", (System.nanoTime() - t0) / 1e9, what);
    }

    /** What /proc says of a process, for a failure message. */
    private static String procStat(long pid) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "stat")).strip();
        } catch (IOException gone) {
            return "exited just now";
        }
    }
}
