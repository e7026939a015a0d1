package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.testsupport.cluster.AgentProcess;
import fivenines.testsupport.guest.TestGuest;
import fivenines.testsupport.guest.WorkloadVerifier;
import fivenines.vm.qemu.QemuProcess;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * VMs run by the agents of a two-node cluster: the test guest (a Debian cloud kernel and a
 * busybox initramfs under QEMU/TCG) boots from logical volumes served by the volume engine
 * and writes sequence-numbered, checksummed records to its disk, acknowledging each one on
 * its serial console once it is flushed. Whatever happens to the VM (restarts, an agent
 * restart, live migrations, a full volume group), the disk must afterwards hold every
 * record the console acknowledged, in order, and nothing else but at most one record more.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class VmSystemTest extends ClusterSystemTest {
    private static final long MiB = 1L << 20;
    private static final int MEMORY_MIB = 128;
    private static final Pattern ACKNOWLEDGED = Pattern.compile("^NINES-WORKLOAD seq=(\\d+)$");
    private static final Pattern RESUMED = Pattern.compile("^NINES-WORKLOAD resume seq=(\\d+)$");

    /**
     * One cluster for the whole class, not one per test as the base class makes (forming one takes most of a
     * minute on a busy machine): each test has its own volume group and VMs; the base's {@code dir} holds
     * each test's scratch files.
     */
    @TempDir
    static Path root;
    private TestCluster nodes;
    private TestGuest guest;

    @BeforeAll
    void formCluster() throws Exception {
        guest = TestGuest.build();
        nodes = new TestCluster(root);
        var first = nodes.add("node0");
        Agents.client(first).post("/v1/cluster/init", Map.of("name", "test", "maxVoters", 5));
        nodes.join(nodes.add("node1"), false);
        nodes.awaitOnEvery(s -> s.path("nodes").size() == 2, Duration.ofSeconds(60), "two nodes seen by both");
    }

    /** A test that failed half-way leaves no guest running into the next one. */
    @AfterEach
    void stopLeftoverGuests() {
        try {
            for (JsonNode vm : api("node0").get("/v1/vms")) {
                if (!vm.path("desired").asText().equals("stopped")) {
                    api("node0").post("/v1/vms/" + vm.path("name").asText() + "/stop", Map.of("force", true));
                }
            }
        } catch (RuntimeException | IOException e) {
            System.out.println("VmSystemTest: could not stop the guests left over: " + e);
        }
    }

    /** QEMU runs daemonized and outlives the agents: the agents go first (so none restarts a guest), then every QEMU of this class. */
    @AfterAll
    void stopCluster() throws Exception {
        if (nodes != null) {
            nodes.close();
        }
        keepLogs();
        for (ProcessHandle process : ProcessHandle.allProcesses().toList()) {
            String commandLine = process.info().commandLine().orElse("");
            if (commandLine.contains("qemu-system") && commandLine.contains(root.toString())) {
                process.destroyForcibly();
                process.onExit().get();
            }
        }
    }

    /** With NINES_KEEP_LOGS=FOLDER, the agents' logs and each VM's console, events and QEMU log are kept there. */
    private static void keepLogs() throws IOException {
        String keep = System.getenv("NINES_KEEP_LOGS");
        if (keep == null || keep.isBlank()) {
            return;
        }
        Path target = Path.of(keep).resolve("VmSystemTest-" + System.currentTimeMillis());
        try (var files = Files.walk(root)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".log") && Files.isRegularFile(f)).toList()) {
                Path copy = target.resolve(root.relativize(file));
                Files.createDirectories(copy.getParent());
                Files.copy(file, copy);
            }
        }
    }

    @Test
    void aGuestBootsFromAWritableCloneOfAThinVolumeAndKeepsEveryAcknowledgedWriteOverStopsAndStarts() throws Exception {
        long t0 = System.nanoTime();
        String pv0 = pv("node0", "gold0.img", 128 * MiB);
        String pv1 = pv("node1", "gold1.img", 128 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "gold", "pvs", List.of(pv0, pv1)));
        JsonNode base = api("node1").post("/v1/lvs", Map.of("vg", "gold", "name", "base", "size", 64 * MiB, "thin", true, "on", "node0"));
        assertTrue(base.path("thin").asBoolean(), base.toString());

        // the golden image: 20 records, imported with the CLI
        var imported = cli("node0", "lv", "import", records(20).toString(), "gold/base");
        assertEquals(0, imported.exit(), imported.out() + imported.err());

        // a writable snapshot of it, booted on the other node with the CLI
        JsonNode clone = api("node0").post("/v1/lvs/gold/base/snapshot", Map.of("name", "clone", "writable", true));
        assertEquals("gold/base", clone.path("origin").asText(), clone.toString());
        var created = cli("node1", "vm", "create", "cloned", "-m", Integer.toString(MEMORY_MIB), "--kernel", guest.kernel().toString(),
            "--initrd", guest.initrd().toString(), "--append", TestGuest.writeWorkloadCommandLine(), "--disk", "gold/clone",
            "--nic", "52:54:00:00:00:11");
        assertEquals(0, created.exit(), created.err());
        var started = cli("node0", "vm", "start", "cloned", "--node", "node1");
        assertEquals(0, started.exit(), started.err() + started.out());
        assertRunsOn("cloned", api("node0").get("/v1/vms/cloned"), "node1");

        // the clone holds the golden records: the guest resumes after them
        assertEquals(20, awaitResumed("cloned", Duration.ofSeconds(120)));
        long first = awaitAcknowledged("cloned", 24, Duration.ofSeconds(120));
        String firstBoot = console("cloned");
        assertEquals(1, count(firstBoot, TestGuest.UP_LINE), firstBoot);
        assertFalse(firstBoot.contains("NINES-WORKLOAD error"), firstBoot);
        assertEquals(21, lowestAcknowledged(firstBoot), firstBoot);
        var listed = cli("node1", "vm", "list");
        assertTrue(listed.out().lines().anyMatch(l -> l.startsWith("cloned") && l.contains("running") && l.contains("node1")
            && l.contains("gold/clone")), listed.out());
        lap(t0, "clone booted, " + first + " acknowledged");

        // stopped and started again: the guest boots afresh and continues after the last acknowledged record
        stop("cloned");
        long beforeRestart = acknowledged(console("cloned"));
        assertTrue(beforeRestart >= first);
        assertRunsOn("cloned", start("cloned", null), "node1");
        long resumedAgain = awaitResumed("cloned", Duration.ofSeconds(120));
        assertTrue(resumedAgain == beforeRestart || resumedAgain == beforeRestart + 1,
            "resumes at " + resumedAgain + " after " + beforeRestart + " were acknowledged");
        awaitAcknowledged("cloned", resumedAgain + 4, Duration.ofSeconds(120));
        stop("cloned");
        String secondBoot = console("cloned");
        long last = acknowledged(secondBoot);
        assertEquals(1, count(secondBoot, TestGuest.UP_LINE), "one boot on this console: " + secondBoot);
        assertFalse(secondBoot.contains("NINES-WORKLOAD error"), secondBoot);
        lap(t0, "clone restarted, " + last + " acknowledged");

        // the clone holds every acknowledged record; the base only its own
        export("node0", "gold/clone").requireHolds(last);
        var baseDisk = export("node1", "gold/base");
        assertTrue(baseDisk.intact(), baseDisk.toString());
        assertEquals(20, baseDisk.lastSequence(), "the clone's writes stay out of the base: " + baseDisk);
        lap(t0, "disks verified");
        assertNoErrorsLogged();
    }

    @Test
    void aRestartedAgentAdoptsItsRunningGuestWhichNeitherRebootsNorLosesAWrite() throws Exception {
        long t0 = System.nanoTime();
        String pv1 = pv("node1", "keep1.img", 128 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "keep", "pvs", List.of(pv1)));
        api("node0").post("/v1/lvs", Map.of("vg", "keep", "name", "disk", "size", 64 * MiB, "thin", true));
        define("node0", "adopted", "keep/disk", List.of());
        assertRunsOn("adopted", start("adopted", "node1"), "node1");
        AgentProcess node1 = nodes.get("node1");
        Path pidFile = node1.dataDir.resolve("vms/adopted/qemu.pid");
        long pid = Long.parseLong(Files.readString(pidFile).strip());
        long before = awaitAcknowledged("adopted", 5, Duration.ofSeconds(120));
        lap(t0, "guest up on node1, QEMU " + pid);

        // down for 10 s and more (its restart takes as long again here): the guest's disk requests wait for it
        node1.stopGracefully();
        assertTrue(QemuProcess.isQemuAlive(pid), "QEMU " + pid + " outlives its agent");
        AgentProcess.sleep(10_000);
        assertTrue(QemuProcess.isQemuAlive(pid), "QEMU " + pid + " outlives its agent");
        node1.start();
        lap(t0, "node1 restarted");

        // the same QEMU, adopted: running, on node1, its console advancing, and its guest never rebooted
        long after;
        try {
            after = awaitAcknowledged("adopted", before + 10, Duration.ofSeconds(150));
        } catch (AssertionError stuck) {
            throw new AssertionError(stuck.getMessage() + "\nnode1 logged: " + node1.loggedWarnings("") + "\nevents: "
                + api("node0").get("/v1/vms/adopted/log").path("text").asText(), stuck);
        }
        assertEquals(pid, Long.parseLong(Files.readString(pidFile).strip()));
        assertTrue(QemuProcess.isQemuAlive(pid));
        JsonNode vm = awaitVm("node0", "adopted", v -> v.path("phase").asText().equals("running"), Duration.ofSeconds(30));
        assertRunsOn("adopted", vm, "node1");
        String log = api("node0").get("/v1/vms/adopted/log").path("text").asText();
        assertTrue(log.contains("adopted QEMU " + pid), log);
        String text = console("adopted");
        assertEquals(1, count(text, TestGuest.UP_LINE), "the guest booted once: " + text);
        assertEquals(1, count(text, "NINES-WORKLOAD resume seq=0"), "the workload started once: " + text);
        assertFalse(text.contains("NINES-WORKLOAD error"), text);
        assertEquals(1, lowestAcknowledged(text));
        String events = api("node1").get("/v1/vms/adopted/log").path("text").asText();
        assertFalse(events.contains("io-error"), "the guest never saw its disk fail: " + events);
        lap(t0, "adopted; " + after + " acknowledged");

        // and the guest is still managed: it stops, and its disk holds every acknowledged write
        stop("adopted");
        assertFalse(QemuProcess.isQemuAlive(pid), "QEMU " + pid + " stopped");
        long last = acknowledged(console("adopted"));
        export("node0", "keep/disk").requireHolds(last);
        lap(t0, "verified " + last);
        assertNoErrorsLogged();
    }

    @Test
    void aGuestWritingMigratesLiveToTheOtherNodeAndBackWithoutLosingOrRepeatingAWrite() throws Exception {
        long t0 = System.nanoTime();
        String pv0 = pv("node0", "move0.img", 128 * MiB);
        String pv1 = pv("node1", "move1.img", 128 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "move", "pvs", List.of(pv0, pv1)));
        api("node0").post("/v1/lvs", Map.of("vg", "move", "name", "disk", "size", 64 * MiB, "thin", true));
        define("node0", "mover", "move/disk", List.of(Map.of("mac", "52:54:00:00:00:21", "network", "user")));
        assertRunsOn("mover", start("mover", "node0"), "node0");
        long sourcePid = Long.parseLong(Files.readString(nodes.get("node0").dataDir.resolve("vms/mover/qemu.pid")).strip());
        awaitAcknowledged("mover", 10, Duration.ofSeconds(120));
        lap(t0, "guest writing on node0");

        // there, through the API, waiting for the end
        JsonNode answer = api("node1").post("/v1/vms/mover/migrate", Map.of("node", "node1", "wait", true));
        assertEquals("node0", answer.path("source").asText(), answer.toString());
        JsonNode migration = answer.path("migration");
        assertEquals("completed", migration.path("state").asText(), migration.toString());
        assertTrue(migration.path("totalMillis").asLong() > 0, migration.toString());
        assertTrue(migration.path("qemuDowntimeMillis").asLong() >= 0, migration.toString());
        assertTrue(migration.path("qemuTotalMillis").asLong() <= migration.path("totalMillis").asLong(), migration.toString());
        JsonNode status = api("node1").get("/v1/vms/mover/migration?node=node0");
        assertEquals("completed", status.path("state").asText(), status.toString());
        lap(t0, "migrated to node1: " + migration);

        JsonNode vm = awaitVm("node0", "mover", v -> v.path("phase").asText().equals("running"), Duration.ofSeconds(30));
        assertRunsOn("mover", vm, "node1");
        assertTrue(awaitExit(sourcePid, Duration.ofSeconds(20)), "the source QEMU ended");
        JsonNode disk = api("node0").get("/v1/lvs/move/disk");
        assertEquals(List.of("node1"), attachedNodes(disk), disk.toString());
        // the guest was not restarted: node1's console starts where node0's ended and keeps advancing
        String onSource = console("mover", "node0");
        long sourceLast = acknowledged(onSource);
        awaitAcknowledged("mover", sourceLast + 10, Duration.ofSeconds(60));
        String onDestination = console("mover");
        assertEquals(0, count(onDestination, TestGuest.UP_LINE), onDestination);
        assertEquals(0, count(onDestination, "NINES-WORKLOAD resume"), onDestination);
        long firstThere = lowestAcknowledged(onDestination);
        // the line printed during the switch may be split between the two consoles
        assertTrue(firstThere == sourceLast + 1 || firstThere == sourceLast + 2,
            "node0's console ends at " + sourceLast + ", node1's begins at " + firstThere);
        long destinationPid = Long.parseLong(Files.readString(nodes.get("node1").dataDir.resolve("vms/mover/qemu.pid")).strip());

        // back, with the CLI
        var back = cli("node1", "vm", "migrate", "mover", "node0");
        assertEquals(0, back.exit(), back.out() + back.err());
        assertTrue(back.out().contains("migrating mover from node1 to node0"), back.out());
        assertTrue(Pattern.compile("mover runs on node0: total \\d+ ms, QEMU downtime \\d+ ms").matcher(back.out()).find(), back.out());
        lap(t0, "migrated back: " + back.out().strip().replace('\n', '|'));
        vm = awaitVm("node1", "mover", v -> v.path("phase").asText().equals("running") && "node0".equals(v.path("node").asText(null)),
            Duration.ofSeconds(30));
        assertNull(vm.path("migratingTo").asText(null), vm.toString());
        assertTrue(awaitExit(destinationPid, Duration.ofSeconds(20)), "node1's QEMU ended");
        long middleLast = acknowledged(console("mover", "node1"));
        long backAgain = awaitAcknowledged("mover", middleLast + 10, Duration.ofSeconds(60));
        String home = console("mover");
        assertEquals(0, count(home, TestGuest.UP_LINE), home);
        long firstHome = lowestAcknowledged(home);
        assertTrue(firstHome == middleLast + 1 || firstHome == middleLast + 2, "node1's console ends at " + middleLast
            + ", node0's begins at " + firstHome);

        // a migration whose destination QEMU dies (killed as soon as it is there) rolls back: the guest goes on
        // where it was, node1 keeps nothing (no QEMU, no attachment), the store shows no migration
        Path pidFile = nodes.get("node1").dataDir.resolve("vms/mover/qemu.pid");
        JsonNode started = api("node0").post("/v1/vms/mover/migrate", Map.of("node", "node1", "wait", false));
        assertEquals("node0", started.path("source").asText(), started.toString());
        long killed = -1;
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (killed < 0 && System.nanoTime() < deadline) {
            if (Files.exists(pidFile)) {
                try {
                    long pid = Long.parseLong(Files.readString(pidFile).strip());
                    var process = ProcessHandle.of(pid);
                    if (pid != destinationPid && process.isPresent()) {
                        process.get().destroyForcibly();
                        killed = pid;
                    }
                } catch (NumberFormatException | java.nio.file.NoSuchFileException halfWritten) {
                    // QEMU is writing it
                }
            }
            Thread.sleep(2);
        }
        assertTrue(killed > 0, "node1 started a QEMU for the incoming migration");
        JsonNode failed = null;
        for (int i = 0; i < 600; i++) {
            failed = api("node1").get("/v1/vms/mover/migration?node=node0");
            if (List.of("failed", "completed").contains(failed.path("state").asText())) {
                break;
            }
            Thread.sleep(100);
        }
        assertEquals("failed", failed.path("state").asText(), failed.toString());
        lap(t0, "migration with a dying destination failed: " + failed.path("error").asText());
        vm = awaitVm("node1", "mover", v -> v.path("phase").asText().equals("running") && v.path("migratingTo").asText(null) == null,
            Duration.ofSeconds(30));
        assertRunsOn("mover", vm, "node0");
        assertTrue(awaitExit(killed, Duration.ofSeconds(10)));
        JsonNode kept = api("node1").get("/v1/lvs/move/disk");
        for (int i = 0; i < 100 && !attachedNodes(kept).equals(List.of("node0")); i++) {
            Thread.sleep(100);
            kept = api("node1").get("/v1/lvs/move/disk");
        }
        assertEquals(List.of("node0"), attachedNodes(kept), "only the source holds the disk: " + kept);
        long beforeRollback = acknowledged(console("mover"));
        backAgain = awaitAcknowledged("mover", beforeRollback + 10, Duration.ofSeconds(60));
        assertEquals(0, count(console("mover"), TestGuest.UP_LINE), "the guest was not rebooted");

        // stopped while writing: every acknowledged record is on the disk once, in its place
        stop("mover");
        long last = acknowledged(console("mover"));
        assertTrue(last >= backAgain);
        assertFalse(console("mover", "node1").contains("NINES-WORKLOAD error"));
        export("node1", "move/disk").requireHolds(last);
        lap(t0, "verified " + last);
        assertNoErrorsLogged();
    }

    /**
     * Two busy loops keep both cores busy (as other work on the machine would): a replica that applies the source's
     * detach later than the leader used to turn away the destination's engine at the new epoch, and the guest paused
     * with an I/O error right after 'running here after a live migration'. Before the load: a migration to the node
     * the guest runs on is refused and changes nothing, and so is an import into its disk.
     */
    @Test
    void aGuestMigratedBackAndForthUnderCpuLoadNeverPausesAndKeepsEveryAcknowledgedWrite() throws Exception {
        long t0 = System.nanoTime();
        String pv0 = pv("node0", "busy0.img", 128 * MiB);
        String pv1 = pv("node1", "busy1.img", 128 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "busy", "pvs", List.of(pv0, pv1)));
        api("node0").post("/v1/lvs", Map.of("vg", "busy", "name", "disk", "size", 64 * MiB, "thin", true));
        define("node0", "busy", "busy/disk", List.of(Map.of("mac", "52:54:00:00:00:31", "network", "user")));
        assertRunsOn("busy", start("busy", "node0"), "node0");
        long sourcePid = Long.parseLong(Files.readString(nodes.get("node0").dataDir.resolve("vms/busy/qemu.pid")).strip());
        long seen = awaitAcknowledged("busy", 10, Duration.ofSeconds(120));
        lap(t0, "guest writing on node0");

        // to where it runs already: refused before anything is done, the guest and its disk untouched
        var same = cli("node1", "vm", "migrate", "busy", "node0");
        assertEquals(1, same.exit(), same.out() + same.err());
        assertTrue(same.err().contains("runs on node0 already"), same.err());
        assertFalse(same.out().contains("starting QEMU"), same.out());
        // an import into the running guest's disk: refused, naming the VM, its node and what to do
        var imported = cli("node1", "lv", "import", records(5).toString(), "busy/disk");
        assertEquals(1, imported.exit(), imported.out() + imported.err());
        assertTrue(imported.err().contains("VM busy") && imported.err().contains("node0") && imported.err().contains("--force"),
            imported.err());
        seen = awaitAcknowledged("busy", seen + 10, Duration.ofSeconds(60));
        assertRunsOn("busy", api("node0").get("/v1/vms/busy"), "node0");
        assertTrue(QemuProcess.isQemuAlive(sourcePid), "the guest's QEMU was left alone");
        assertEquals(List.of("node0"), attachedNodes(api("node0").get("/v1/lvs/busy/disk")));
        lap(t0, "refused: " + same.err().strip() + " | " + imported.err().strip());

        var loops = new ArrayList<Process>();
        try {
            // two per core: the agents' threads wait for a core as they do on a loaded machine
            for (int i = 0; i < 2 * Runtime.getRuntime().availableProcessors(); i++) {
                loops.add(new ProcessBuilder("bash", "-c", "while :; do :; done").start());
            }
            String at = "node0";
            for (int round = 1; round <= 6; round++) {
                String to = at.equals("node0") ? "node1" : "node0";
                var moved = cli(at, "vm", "migrate", "busy", to);
                assertEquals(0, moved.exit(), "round " + round + ": " + moved.out() + moved.err());
                awaitVm("node0", "busy", v -> to.equals(v.path("node").asText(null)) && v.path("migratingTo").asText(null) == null,
                    Duration.ofSeconds(30));
                // the guest keeps running there: never paused, and the workload goes on
                long deadline = System.nanoTime() + Duration.ofSeconds(6).toNanos();
                while (System.nanoTime() < deadline) {
                    JsonNode vm = api(to).get("/v1/vms/busy");
                    assertNotEquals("paused", vm.path("phase").asText(), "round " + round + " (" + at + " -> " + to
                        + "): the guest paused after the migration: " + vm + "; events there: " + events(to, "busy"));
                    AgentProcess.sleep(200);
                }
                seen = awaitAcknowledged("busy", seen + 5, Duration.ofSeconds(60));
                assertFalse(events(to, "busy").contains("io-error"), events(to, "busy"));
                lap(t0, "round " + round + ": " + at + " -> " + to + ", " + seen + " acknowledged");
                at = to;
            }
            // killed while the cores are busy: stopped in the store before the kill, so it is not restarted as after a crash
            forceStop("busy", at);
        } finally {
            loops.forEach(Process::destroyForcibly);
        }
        long last = acknowledged(console("busy"));
        assertTrue(last >= seen);
        export("node0", "busy/disk").requireHolds(last);
        lap(t0, "verified " + last);
        assertNoErrorsLogged();
    }

    /**
     * A VM that cannot start: a kernel missing on its node is found before QEMU is tried, a kernel QEMU refuses
     * is tried three times with a growing delay; either way 'vm start' answers at once with the reason (exit 1),
     * the VM shows as failed, nothing stays attached and nothing is retried; fixed, it starts.
     */
    @Test
    void aGuestOnAMirroredVolumeKeepsWritingWhenALegsNodeIsKilledAndLosesNoAcknowledgedRecord() throws Exception {
        long t0 = System.nanoTime();
        // a third node holds the second leg (and keeps the store's quorum when it is killed)
        if (nodes.agents.stream().noneMatch(a -> a.name.equals("node2"))) {
            nodes.join(nodes.add("node2"), false);
            nodes.awaitOnEvery(s -> s.path("nodes").size() == 3, Duration.ofSeconds(60), "three nodes seen by all");
        }
        String pv1 = pv("node1", "mirror1.img", 128 * MiB);
        String pv2 = pv("node2", "mirror2.img", 128 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "mirror", "pvs", List.of(pv1, pv2)));
        JsonNode volume = api("node0").post("/v1/lvs", Map.of("vg", "mirror", "name", "disk", "size", 64 * MiB, "thin", true,
            "mirrors", 1, "on", "node1"));
        assertEquals(2, volume.path("legs").size(), volume.toString());
        define("node0", "mirrored", "mirror/disk", List.of(Map.of("mac", "52:54:00:00:00:41", "network", "user")));
        assertRunsOn("mirrored", start("mirrored", "node0"), "node0");
        long before = awaitAcknowledged("mirrored", 10, Duration.ofSeconds(120));
        lap(t0, "guest writing on a mirror, legs on node1 and node2");

        nodes.get("node2").kill();
        long after = awaitAcknowledged("mirrored", before + 10, Duration.ofSeconds(60));
        JsonNode degraded = api("node0").get("/v1/lvs/mirror/disk");
        assertTrue(degraded.path("health").asText().startsWith("degraded"), degraded.toString());
        JsonNode vm = api("node0").get("/v1/vms/mirrored");
        assertEquals("running", vm.path("state").asText(), "the guest did not stay paused: " + vm);
        lap(t0, "leg on node2 out of the set, guest at " + after);

        nodes.get("node2").start();
        TestCluster.await(nodes.get("node0"), n -> {
            try {
                return api("node0").get("/v1/lvs/mirror/disk").path("health").asText().startsWith("in sync");
            } catch (IOException e) {
                return false;
            }
        }, Duration.ofSeconds(120), "the leg on node2 in sync again");
        awaitAcknowledged("mirrored", after + 5, Duration.ofSeconds(60));
        stop("mirrored");
        long last = acknowledged(console("mirrored"));
        export("node0", "mirror/disk").requireHolds(last);
        lap(t0, "resynced; every one of " + last + " acknowledged records on the disk");
    }

    @Test
    void aVmThatCannotStartFailsWithItsReasonHoldsNothingAndStartsOnceFixed() throws Exception {
        long t0 = System.nanoTime();
        String pv0 = pv("node0", "fail0.img", 128 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "fail", "pvs", List.of(pv0)));
        api("node0").post("/v1/lvs", Map.of("vg", "fail", "name", "disk", "size", 64 * MiB, "thin", true));
        var created = cli("node1", "vm", "create", "broken", "-m", Integer.toString(MEMORY_MIB), "--kernel", "/nonexistent/vmlinuz",
            "--disk", "fail/disk");
        assertEquals(0, created.exit(), created.out() + created.err()); // no node is known yet: it is checked where it starts

        long started = System.nanoTime();
        var missing = cli("node1", "vm", "start", "broken", "--node", "node0");
        assertEquals(1, missing.exit(), missing.out() + missing.err());
        assertTrue(missing.err().contains("kernel /nonexistent/vmlinuz does not exist on node0"), missing.err());
        assertTrue(Duration.ofNanos(System.nanoTime() - started).toSeconds() < 40, "answered at once");
        JsonNode vm = api("node1").get("/v1/vms/broken");
        assertEquals("failed", vm.path("phase").asText(), vm.toString());
        assertEquals("stopped", vm.path("desired").asText(), vm.toString());
        var listed = cli("node1", "vm", "list");
        assertTrue(listed.out().lines().anyMatch(l -> l.startsWith("broken") && l.contains("failed")), listed.out());
        assertEquals(List.of(), attachedNodes(api("node0").get("/v1/lvs/fail/disk")));
        lap(t0, "missing kernel: " + missing.err().strip());

        // a kernel QEMU itself refuses: its own words reach the CLI after three tries
        Path garbage = Files.writeString(dir.resolve("not-a-kernel"), "not a kernel\n");
        redefine("broken", garbage.toString(), null, "fail/disk");
        started = System.nanoTime();
        var refused = cli("node1", "vm", "start", "broken", "--node", "node0");
        assertEquals(1, refused.exit(), refused.out() + refused.err());
        assertTrue(refused.err().contains("invalid kernel header") && refused.err().contains("3 times"), refused.err());
        lap(t0, "QEMU refused in " + Duration.ofNanos(System.nanoTime() - started).toMillis() + " ms: " + refused.err().strip());
        String events = events("node0", "broken");
        assertEquals(2, count(events, "trying again in"), events);
        assertEquals(List.of(), attachedNodes(api("node0").get("/v1/lvs/fail/disk")));
        AgentProcess.sleep(6000);
        assertEquals(events, events("node0", "broken"), "nothing is tried after giving up");
        assertTrue(api("node1").get("/v1/vms/broken").path("state").asText().startsWith("failed (failed to start 3 times"),
            api("node1").get("/v1/vms/broken").toString());

        // fixed: started again, it runs; stopped, it holds nothing
        redefine("broken", guest.kernel().toString(), guest.initrd().toString(), "fail/disk");
        var fixed = cli("node1", "vm", "start", "broken", "--node", "node0");
        assertEquals(0, fixed.exit(), fixed.out() + fixed.err());
        assertRunsOn("broken", api("node1").get("/v1/vms/broken"), "node0");
        awaitAcknowledged("broken", 3, Duration.ofSeconds(120));
        stop("broken");
        assertEquals(List.of(), attachedNodes(api("node0").get("/v1/lvs/fail/disk")));
        lap(t0, "fixed, ran and stopped");
        assertNoErrorsLogged();
    }

    private void redefine(String name, String kernel, String initrd, String volume) throws IOException {
        var boot = new LinkedHashMap<String, Object>();
        boot.put("kernel", kernel);
        boot.put("initrd", initrd);
        boot.put("commandLine", TestGuest.writeWorkloadCommandLine());
        var definition = new LinkedHashMap<String, Object>();
        definition.put("name", name);
        definition.put("memoryMib", MEMORY_MIB);
        definition.put("vcpus", 1);
        definition.put("boot", boot);
        definition.put("disks", List.of(Map.of("volume", volume, "bus", "virtio", "cache", "writeback", "readOnly", false)));
        definition.put("nics", List.of());
        definition.put("onCrash", "restart");
        definition.put("priority", 0);
        api("node0").post("/v1/vms", Map.of("definition", definition, "replace", true));
    }

    /** The VM's events as {@code node} logged them. */
    private String events(String node, String vm) throws IOException {
        Path log = nodes.get(node).dataDir.resolve("vms").resolve(vm).resolve("events.log");
        return Files.exists(log) ? Files.readString(log) : "";
    }

    @Test
    void aGuestThatFillsItsVolumeGroupIsPausedWithEnospcAndContinuesIntactOnceTheGroupIsExtended() throws Exception {
        long t0 = System.nanoTime();
        // 9 MiB: the label area and two extents; a thick volume takes one of them, leaving 4 MiB (1024 records)
        String small = pv("node0", "full0.img", 9 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "full", "pvs", List.of(small)));
        api("node0").post("/v1/lvs", Map.of("vg", "full", "name", "filler", "size", 4 * MiB));
        api("node0").post("/v1/lvs", Map.of("vg", "full", "name", "thin", "size", 256 * MiB, "thin", true));
        assertEquals(4 * MiB, api("node1").get("/v1/vgs/full").path("free").asLong());
        long capacity = 4 * MiB / 4096;
        // the guest writes slowly under TCG: records 1..1000 are there already, it writes the last 24 that fit
        var imported = cli("node0", "lv", "import", records(1000).toString(), "full/thin");
        assertEquals(0, imported.exit(), imported.out() + imported.err());
        assertEquals(0, api("node1").get("/v1/vgs/full").path("free").asLong());
        assertEquals(4 * MiB, api("node1").get("/v1/lvs/full/thin").path("mappedBytes").asLong());
        define("node1", "filling", "full/thin", List.of());
        assertRunsOn("filling", start("filling", "node0"), "node0");

        // the guest writes until the group is full, then QEMU pauses it: the guest sees no error
        assertEquals(1000, awaitResumed("filling", Duration.ofSeconds(120)));
        JsonNode paused = awaitVm("node1", "filling", v -> v.path("phase").asText().equals("paused"), Duration.ofSeconds(120));
        assertEquals("io-error: ENOSPC on full/thin", paused.path("detail").asText(), paused.toString());
        assertEquals("paused (io-error: ENOSPC on full/thin)", paused.path("state").asText());
        assertEquals("running", paused.path("desired").asText());
        lap(t0, "paused: " + paused.path("state").asText());
        long atPause = acknowledged(console("filling"));
        assertEquals(capacity, atPause, "every record that fits is acknowledged, and no more");
        AgentProcess.sleep(3000);
        String stalled = console("filling");
        assertEquals(atPause, acknowledged(stalled), "nothing is acknowledged while paused");
        assertFalse(stalled.contains("NINES-WORKLOAD error"), stalled);
        assertEquals("paused", api("node0").get("/v1/vms/filling").path("phase").asText());

        // resuming without space: the write is retried, fails the same way, and the guest is paused again
        int errors = count(api("node0").get("/v1/vms/filling/log").path("text").asText(), "io-error: ENOSPC on full/thin");
        assertTrue(errors >= 1);
        api("node1").post("/v1/vms/filling/resume", Map.of());
        awaitLog("filling", log -> count(log, "io-error: ENOSPC on full/thin") > errors, Duration.ofSeconds(30));
        JsonNode again = awaitVm("node1", "filling", v -> v.path("phase").asText().equals("paused")
            && v.path("detail").asText("").contains("ENOSPC"), Duration.ofSeconds(30));
        assertEquals("io-error: ENOSPC on full/thin", again.path("detail").asText(), again.toString());
        assertEquals(atPause, acknowledged(console("filling")));

        // more space, on the other node, with the CLI; then resumed: the failed write is retried and the guest goes on
        String more = pv("node1", "full1.img", 64 * MiB);
        var extended = cli("node1", "vg", "extend", "full", more);
        assertEquals(0, extended.exit(), extended.out() + extended.err());
        var resumed = cli("node0", "vm", "resume", "filling");
        assertEquals(0, resumed.exit(), resumed.out() + resumed.err());
        JsonNode running = awaitVm("node0", "filling", v -> v.path("phase").asText().equals("running"), Duration.ofSeconds(30));
        assertNull(running.path("detail").asText(null), running.toString());
        long afterResume = awaitAcknowledged("filling", capacity + 8, Duration.ofSeconds(120));
        lap(t0, "resumed: " + afterResume + " acknowledged");
        stop("filling");
        String text = console("filling");
        long last = acknowledged(text);
        assertFalse(text.contains("NINES-WORKLOAD error"), text);
        assertEquals(1, count(text, TestGuest.UP_LINE), text);
        var disk = export("node1", "full/thin");
        disk.requireHolds(last);
        JsonNode thin = api("node0").get("/v1/lvs/full/thin");
        assertTrue(thin.path("bytesByPhysicalVolume").path(more).asLong() > 0, thin.toString());
        lap(t0, "verified " + last);
        assertNoErrorsLogged();
    }

    @Test
    void aXenDomainConfigIsImportedAndBootsAndWhatCannotBeHonouredIsReported() throws Exception {
        long t0 = System.nanoTime();
        String pv1 = pv("node1", "xen1.img", 64 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "xen", "pvs", List.of(pv1)));
        api("node0").post("/v1/lvs", Map.of("vg", "xen", "name", "xenvol", "size", 32 * MiB, "thin", true));
        api("node0").post("/v1/lvs", Map.of("vg", "xen", "name", "data", "size", 8 * MiB, "thin", true));

        // an xm config of the seed's kind, as it stood in /etc/xen/auto
        Path config = dir.resolve("xen1.cfg");
        Files.writeString(config, """
            # web server, as under Xen 3
            kernel  = "%s"
            ramdisk = "%s"
            memory  = 128
            vcpus   = 1
            name    = "xen1"
            root    = "/dev/vda"
            extra   = "%s"
            disk    = [ 'phy:xen/xenvol,xvda,w' ]
            on_crash = 'restart'
            """.formatted(guest.kernel(), guest.initrd(), TestGuest.writeWorkloadCommandLine()));
        var imported = cli("node0", "vm", "import", config.toString());
        assertEquals(0, imported.exit(), imported.out() + imported.err());
        assertTrue(imported.out().contains("not honoured: disks are virtio"), imported.out());
        JsonNode vm = api("node1").get("/v1/vms/xen1");
        JsonNode definition = vm.path("definition");
        assertEquals(128, definition.path("memoryMib").asInt(), vm.toString());
        assertEquals(1, definition.path("vcpus").asInt());
        assertEquals(guest.kernel().toString(), definition.path("boot").path("kernel").asText());
        assertEquals(guest.initrd().toString(), definition.path("boot").path("initrd").asText());
        assertEquals("root=/dev/vda " + TestGuest.writeWorkloadCommandLine(), definition.path("boot").path("commandLine").asText());
        assertEquals("xen/xenvol", definition.path("disks").get(0).path("volume").asText());
        assertEquals(1, definition.path("disks").size());
        assertEquals("restart", definition.path("onCrash").asText());
        assertEquals("stopped", vm.path("phase").asText());

        var startedXen = cli("node1", "vm", "start", "xen1");
        assertEquals(0, startedXen.exit(), startedXen.out() + startedXen.err());
        JsonNode running = api("node0").get("/v1/vms/xen1");
        assertEquals("running", running.path("phase").asText(), running.toString());
        awaitAcknowledged("xen1", 3, Duration.ofSeconds(120));
        var shown = cli("node0", "vm", "console", "xen1");
        assertEquals(0, shown.exit(), shown.err());
        assertTrue(shown.out().contains(TestGuest.UP_LINE), shown.out());
        lap(t0, "xen1 up");

        // a config with what the cluster cannot do: each is named, the rest is imported
        String second = """
            name = "xen2"
            kernel = "%s"
            ramdisk = "%s"
            memory = 96
            cpus = "2-3"
            disk = [ 'file:/srv/xen/xen2-root.img,xvda1,w', 'phy:xen/data,xvdb,r' ]
            vif = [ 'mac=52:54:00:12:34:56, bridge=xenbr0, ip=10.0.0.2' ]
            on_crash = 'preserve'
            """.formatted(guest.kernel(), guest.initrd());
        JsonNode answer = api("node1").post("/v1/vms/import", Map.of("config", second));
        String warnings = answer.path("warnings").toString();
        assertTrue(warnings.contains("cpus"), warnings);
        assertTrue(warnings.contains("/srv/xen/xen2-root.img") && warnings.contains("nines lv import"), warnings);
        assertTrue(warnings.contains("ip=10.0.0.2"), warnings);
        assertTrue(warnings.contains("preserve"), warnings);
        JsonNode xen2 = answer.path("vm").path("definition");
        assertEquals(96, xen2.path("memoryMib").asInt(), answer.toString());
        assertEquals(1, xen2.path("disks").size(), answer.toString());
        assertEquals("xen/data", xen2.path("disks").get(0).path("volume").asText());
        assertTrue(xen2.path("disks").get(0).path("readOnly").asBoolean());
        assertEquals("52:54:00:12:34:56", xen2.path("nics").get(0).path("mac").asText());
        assertEquals("bridge:xenbr0", xen2.path("nics").get(0).path("network").asText());

        // a config that cannot be read changes nothing
        var broken = assertThrows(AgentClientException.class, () -> api("node0").post("/v1/vms/import",
            Map.of("config", "name = \"xen3\"\nmemory = 64\ndisk = [ 'phy:xen/data,xvda' ]\n")));
        assertEquals(400, broken.status(), broken.getMessage());
        assertTrue(broken.getMessage().contains("not 'source,device,mode'"), broken.getMessage());
        var names = new ArrayList<String>();
        api("node1").get("/v1/vms").forEach(v -> names.add(v.path("name").asText()));
        assertTrue(names.containsAll(List.of("xen1", "xen2")) && !names.contains("xen3"), names.toString());

        stop("xen1");
        export("node0", "xen/xenvol").requireHolds(acknowledged(console("xen1")));
        lap(t0, "done");
        assertNoErrorsLogged();
    }

    // ---- the cluster ----

    /** No agent logged an ERROR. */
    private void assertNoErrorsLogged() throws IOException {
        nodes.assertNoUnexpectedErrors();
    }

    private AgentClient api(String node) throws IOException {
        AgentProcess agent = nodes.get(node);
        return Agents.client(agent, agent.secret(), Duration.ofSeconds(180));
    }

    private Cli.Outcome cli(String node, String... arguments) throws IOException, InterruptedException {
        return Cli.run(nodes.get(node).cliEnvironment(), arguments);
    }

    private String pv(String node, String file, long size) throws IOException {
        return api(node).post("/v1/pvs", Map.of("path", root.resolve(file).toString(), "size", size)).path("name").asText();
    }

    // ---- VMs ----

    private void define(String via, String name, String volume, List<Map<String, String>> nics) throws IOException {
        var definition = new LinkedHashMap<String, Object>();
        definition.put("name", name);
        definition.put("memoryMib", MEMORY_MIB);
        definition.put("vcpus", 1);
        definition.put("boot", Map.of("kernel", guest.kernel().toString(), "initrd", guest.initrd().toString(),
            "commandLine", TestGuest.writeWorkloadCommandLine()));
        definition.put("disks", List.of(Map.of("volume", volume, "bus", "virtio", "cache", "writeback", "readOnly", false)));
        definition.put("nics", nics);
        definition.put("onCrash", "restart");
        definition.put("priority", 0);
        JsonNode vm = api(via).post("/v1/vms", Map.of("definition", definition));
        assertEquals("stopped", vm.path("phase").asText(), vm.toString());
    }

    private JsonNode start(String name, String node) throws IOException {
        JsonNode vm = api("node0").post("/v1/vms/" + name + "/start", node == null ? Map.of() : Map.of("node", node));
        assertEquals("running", vm.path("phase").asText(), vm.toString());
        return vm;
    }

    private void stop(String name) throws IOException {
        JsonNode vm = api("node1").post("/v1/vms/" + name + "/stop", Map.of());
        assertEquals("stopped", vm.path("phase").asText(), vm.toString());
        assertEquals("stopped", vm.path("desired").asText(), vm.toString());
    }

    /**
     * 'vm stop --force': the VM is stopped and no QEMU is started on {@code node} after the request. The QEMU is killed,
     * unless the node's reconciler, seeing the stop committed just before the kill, asked the guest to power off and
     * it did so at once (the test guest's init obeys ACPI): either way it must not come back as after a crash.
     */
    private void forceStop(String name, String node) throws IOException {
        int before = events(node, name).length();
        JsonNode vm = api("node1").post("/v1/vms/" + name + "/stop", Map.of("force", true));
        assertEquals("stopped", vm.path("desired").asText(), vm.toString());
        vm = awaitVm("node1", name, v -> v.path("phase").asText().equals("stopped"), Duration.ofSeconds(30));
        AgentProcess.sleep(3000); // a restart after the kill would show within a reconcile or two
        String events = events(node, name);
        String since = events.substring(Math.min(before, events.length()));
        assertTrue(since.contains("killed by request") || since.contains("QEMU event SHUTDOWN"), events);
        assertFalse(since.contains("started QEMU"), "started again after the stop: " + events);
        assertEquals("stopped", api("node1").get("/v1/vms/" + name).path("phase").asText(), vm.toString());
    }

    private static void assertRunsOn(String name, JsonNode vm, String node) {
        assertEquals(name, vm.path("name").asText(), vm.toString());
        assertEquals("running", vm.path("phase").asText(), vm.toString());
        assertEquals("running", vm.path("state").asText(), vm.toString());
        assertEquals(node, vm.path("node").asText(null), vm.toString());
    }

    private JsonNode awaitVm(String via, String name, java.util.function.Predicate<JsonNode> condition, Duration timeout)
        throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        JsonNode last = null;
        while (System.nanoTime() < deadline) {
            try {
                last = api(via).get("/v1/vms/" + name);
                if (condition.test(last)) {
                    return last;
                }
            } catch (AgentClientException e) {
                // a store that is electing: try again
            }
            AgentProcess.sleep(250);
        }
        throw new AssertionError("VM " + name + " not as expected within " + timeout + ": " + last);
    }

    private String awaitLog(String name, java.util.function.Predicate<String> condition, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String log = "";
        while (System.nanoTime() < deadline) {
            log = api("node0").get("/v1/vms/" + name + "/log").path("text").asText();
            if (condition.test(log)) {
                return log;
            }
            AgentProcess.sleep(250);
        }
        throw new AssertionError("VM " + name + ": log not as expected within " + timeout + ": " + log);
    }

    /** The serial console where the VM is placed, through the API (its whole tail, up to 4 MiB). */
    private String console(String name) throws IOException {
        return api("node0").get("/v1/vms/" + name + "/console?bytes=" + (4 << 20)).path("text").asText();
    }

    /** The serial console a node keeps of the VM, also after the VM has moved away. */
    private String console(String name, String node) throws IOException {
        JsonNode answer = api("node1").get("/v1/vms/" + name + "/console?bytes=" + (4 << 20) + "&node=" + node);
        assertEquals(node, answer.path("node").asText());
        return answer.path("text").asText();
    }

    /** Complete console lines only: a half-printed {@code seq=12} might yet become {@code seq=123}. */
    private static List<String> lines(String text) {
        int end = text.lastIndexOf('\n');
        if (end < 0) {
            return List.of();
        }
        return text.substring(0, end).lines().map(l -> l.replace("\r", "")).toList();
    }

    static long acknowledged(String text) {
        long highest = 0;
        for (String line : lines(text)) {
            Matcher m = ACKNOWLEDGED.matcher(line);
            if (m.matches()) {
                highest = Math.max(highest, Long.parseLong(m.group(1)));
            }
        }
        return highest;
    }

    static long lowestAcknowledged(String text) {
        return lines(text).stream().map(ACKNOWLEDGED::matcher).filter(Matcher::matches).mapToLong(m -> Long.parseLong(m.group(1)))
            .min().orElse(-1);
    }

    private long awaitAcknowledged(String name, long atLeast, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String text = "";
        while (System.nanoTime() < deadline) {
            try {
                text = console(name);
            } catch (AgentClientException e) {
                // the node is restarting
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
            text = console(name);
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

    private static int count(String text, String part) {
        int count = 0;
        for (int at = text.indexOf(part); at >= 0; at = text.indexOf(part, at + 1)) {
            count++;
        }
        return count;
    }

    private static List<String> attachedNodes(JsonNode volume) {
        var nodes = new ArrayList<String>();
        volume.path("attachments").forEach(a -> nodes.add(a.path("node").asText()));
        return nodes;
    }

    // ---- processes and disks ----

    private static boolean awaitExit(long pid, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (QemuProcess.isQemuAlive(pid)) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            AgentProcess.sleep(100);
        }
        return true;
    }

    /**
     * An image of records 1..count as the guest's write workload lays them out (WorkloadVerifier reads the same):
     * record n is the 4 KiB block at (n-1)*4096, an 85-byte header "NINESREC n(10 digits) sha256(payload)\n"
     * and 4011 bytes of payload, the line "nines record n\n" repeated.
     */
    private Path records(long count) throws Exception {
        Path image = dir.resolve("records-" + count + ".raw");
        var digest = java.security.MessageDigest.getInstance("SHA-256");
        try (var out = new java.io.BufferedOutputStream(Files.newOutputStream(image))) {
            for (long seq = 1; seq <= count; seq++) {
                byte[] line = ("nines record " + seq + "\n").getBytes(StandardCharsets.US_ASCII);
                byte[] payload = new byte[4011];
                for (int i = 0; i < payload.length; i++) {
                    payload[i] = line[i % line.length];
                }
                String header = "NINESREC %010d %s\n".formatted(seq, java.util.HexFormat.of().formatHex(digest.digest(payload)));
                out.write(header.getBytes(StandardCharsets.US_ASCII));
                out.write(payload);
            }
        }
        assertEquals(count * 4096, Files.size(image));
        return image;
    }

    /** Copies a volume out with 'nines lv export' (attached on that agent's node for the copy) and checks its records. */
    private WorkloadVerifier.Result export(String node, String volume) throws Exception {
        Path image = dir.resolve(volume.replace('/', '-') + "-" + System.nanoTime() + ".raw");
        var exported = cli(node, "lv", "export", volume, image.toString());
        assertEquals(0, exported.exit(), exported.out() + exported.err());
        try {
            var result = WorkloadVerifier.verify(image);
            assertNotEquals(0, result.lastSequence(), volume + " holds no record: " + result);
            return result;
        } finally {
            Files.deleteIfExists(image);
        }
    }

    private static void lap(long t0, String what) {
        System.out.printf("VmSystemTest %6.1f s: %s%n", (System.nanoTime() - t0) / 1e9, what);
    }
}
