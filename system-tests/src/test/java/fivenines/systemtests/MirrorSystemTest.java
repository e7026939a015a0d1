package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Mirrored volumes across three real agents: legs on node1 and node2, attached on node0 and written
 * with qemu-io; node2 killed mid-use and started again; the legs compared byte for byte on the PV files.
 */
class MirrorSystemTest extends ClusterSystemTest {
    private static final long MiB = 1L << 20;
    /** Where a PV's data area starts in its file (after the label). */
    private static final long DATA_OFFSET = MiB;

    @Test
    void aKilledLegNodeLeavesTheSetWritesGoOnAndOnItsReturnOnlyWhatItMissedIsCopiedBack() throws Exception {
        cluster = TestCluster.ofThree(dir);
        String pv1 = pv("node1", "pv1.img", 64 * MiB);
        String pv2 = pv("node2", "pv2.img", 64 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv1, pv2)));
        // a wrong leg count, and more legs than nodes with space: clear errors, nothing created
        var refused = Cli.nines(cluster.get("node0"), "lv", "create", "-n", "web", "-L", "32M", "-m", "2", "vg");
        assertEquals(1, refused.exit(), refused.toString());
        assertTrue(refused.toString().contains("3 legs") && refused.toString().contains("node1"), refused.toString());
        assertEquals(0, api("node0").get("/v1/lvs").size());

        var created = Cli.nines(cluster.get("node0"), "lv", "create", "-n", "web", "-L", "32M", "-m", "1", "--on", "node1", "vg");
        assertEquals(0, created.exit(), created.toString());
        JsonNode web = show();
        assertEquals(2, web.path("legs").size(), web.toString());
        assertEquals(List.of("node1", "node2"), List.of(web.path("legs").get(0).path("node").asText(),
            web.path("legs").get(1).path("node").asText()));
        assertEquals(100.0, web.path("copyPercent").asDouble());

        JsonNode attached = api("node0").post("/v1/lvs/vg/web/attach", Map.of("node", "node0"));
        String uri = attached.path("attachments").get(0).path("nbdUnixUri").asText();
        // written in order first, so each leg's chunks sit in the same order on its PV
        qemuIoOk(uri, List.of("write -P 0x11 0 32M", "flush"));
        assertEquals(sha(pv1File(), 32 * MiB), sha(pv2File(), 32 * MiB), "both legs hold the same bytes");

        cluster.get("node2").kill();
        long start = System.nanoTime();
        qemuIoOk(uri, List.of("write -P 0x22 4M 2M", "write -P 0x33 20M 1M", "flush"));
        long tookMs = (System.nanoTime() - start) / 1_000_000;
        assertTrue(tookMs < 15_000, "writes went on within the leg timeout and a commit: " + tookMs + " ms");
        qemuIoOk(uri, List.of("read -P 0x11 0 4M", "read -P 0x22 4M 2M", "read -P 0x11 6M 14M", "read -P 0x33 20M 1M"));
        JsonNode degraded = show();
        JsonNode leg2 = degraded.path("legs").get(1);
        assertEquals("out", leg2.path("state").asText(), degraded.toString());
        assertTrue(degraded.path("attributes").asText().charAt(8) == 'p', "LVM's partial flag: " + degraded.path("attributes"));
        assertTrue(degraded.path("health").asText().startsWith("degraded"), degraded.path("health").asText());
        var listed = Cli.nines(cluster.get("node0"), "lv", "list");
        assertTrue(listed.toString().contains("CPY%SYNC"), listed.toString());
        TestCluster.await(cluster.get("node0"), n -> missed(show()) == 3 * MiB, Duration.ofSeconds(20),
            "what leg 1 missed recorded: " + show().path("legs"));
        long copiedBefore = show().path("engine").path("copiedBytes").asLong();

        cluster.get("node2").start();
        JsonNode synced = awaitInSync(Duration.ofSeconds(120));
        long copied = synced.path("engine").path("copiedBytes").asLong() - copiedBefore;
        assertEquals(3 * MiB, copied, "only the 3 MiB written while node2 was away were copied back: " + synced);
        assertEquals(100.0, synced.path("copyPercent").asDouble());
        assertEquals(sha(pv1File(), 32 * MiB), sha(pv2File(), 32 * MiB), "the legs are alike again");
        var resync = Cli.nines(cluster.get("node0"), "lv", "resync", "vg/web");
        assertEquals(0, resync.exit(), resync.toString());
        assertTrue(resync.toString().contains("100.00%"), resync.toString());
    }

    @Test
    void convertAddsALegThatCopiesEverythingAndRemovingTheLastInSyncLegIsRefused() throws Exception {
        cluster = TestCluster.ofThree(dir);
        String pv1 = pv("node1", "pv1.img", 64 * MiB);
        String pv2 = pv("node2", "pv2.img", 64 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv1, pv2)));
        api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "web", "size", 16 * MiB, "on", "node1"));
        JsonNode attached = api("node0").post("/v1/lvs/vg/web/attach", Map.of("node", "node0"));
        String uri = attached.path("attachments").get(0).path("nbdUnixUri").asText();
        qemuIoOk(uri, List.of("write -P 0x5c 0 16M", "flush"));

        var converted = Cli.nines(cluster.get("node1"), "lv", "convert", "-m", "1", "vg/web");
        assertEquals(0, converted.exit(), converted.toString());
        awaitInSync(Duration.ofSeconds(120));
        // the new leg's chunks were taken as its resync copied them, several at a time: the same chunks, maybe in
        // another order on its PV than on the first leg's
        assertEquals(chunkContents(pv1File(), 16), chunkContents(pv2File(), 16), "the new leg holds a full copy");
        qemuIoOk(uri, List.of("write -P 0x5d 1M 1M", "flush", "read -P 0x5d 1M 1M"));
        // a leg the store counts in sync has every acknowledged write (on a loaded machine a late leg may have been
        // dropped meanwhile, and is then resynced: the legs must be alike once it is in sync again)
        JsonNode afterWrite = show();
        awaitInSync(Duration.ofSeconds(120));
        List<String> expected = new ArrayList<>(java.util.Collections.nCopies(15, chunkOf(0x5c)));
        expected.add(chunkOf(0x5d));
        expected.sort(null);
        assertEquals(expected, chunkContents(pv1File(), 16), "the first leg has the new write");
        assertEquals(expected, chunkContents(pv2File(), 16), "and the new leg has it too; legs after the write: "
            + afterWrite.path("legs") + ", engine " + afterWrite.path("engine"));
        var check = Cli.nines(cluster.get("node0"), "lv", "check", "vg/web");
        assertEquals(0, check.exit(), "the legs compared chunk by chunk through their exports: " + check);

        var again = Cli.nines(cluster.get("node1"), "lv", "convert", "-m", "2", "vg/web");
        assertEquals(1, again.exit(), again.toString());
        assertTrue(again.toString().contains("no leg of it yet"), again.toString());
        var removed = Cli.nines(cluster.get("node1"), "lv", "convert", "-m", "0", "vg/web");
        assertEquals(0, removed.exit(), removed.toString());
        assertEquals(1, show().path("legs").size());
        qemuIoOk(uri, List.of("read -P 0x5c 0 1M", "read -P 0x5d 1M 1M", "read -P 0x5c 2M 14M"));
    }

    @Test
    void whenTheWritersNodeDiesTheNextWriterMakesTheLegsAlikeWhereWritesWereOpenBeforeServing() throws Exception {
        cluster = TestCluster.ofThree(dir);
        String pv1 = pv("node1", "pv1.img", 64 * MiB);
        String pv2 = pv("node2", "pv2.img", 64 * MiB);
        api("node1").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv1, pv2)));
        api("node1").post("/v1/lvs", Map.of("vg", "vg", "name", "web", "size", 16 * MiB, "mirrors", 1, "on", "node1"));
        JsonNode attached = api("node1").post("/v1/lvs/vg/web/attach", Map.of("node", "node0"));
        String uri = attached.path("attachments").get(0).path("nbdUnixUri").asText();
        qemuIoOk(uri, List.of("write -P 0x11 0 16M", "flush"));
        // both legs in the set before the last write (a leg whose first requests were slow, its connection and TLS
        // handshake included, may have been dropped and be resyncing)
        awaitInSync(Duration.ofSeconds(120));
        qemuIoOk(uri, List.of("write -P 0x12 8M 1M", "flush"));
        JsonNode open = api("node1").get("/v1/lvs/vg/web");
        cluster.get("node0").kill();
        // the dead writer's last write reached one leg only: node2's copy of chunk 8 is older (found by its
        // contents: which PV chunk holds a volume chunk depends on the order the writes took chunks from the pool)
        try (var raf = new RandomAccessFile(pv2File().toFile(), "rw")) {
            long at = -1;
            for (long c = 0; c < 16 && at < 0; c++) {
                raf.seek(DATA_OFFSET + c * MiB);
                if (raf.read() == 0x12) {
                    at = DATA_OFFSET + c * MiB;
                }
            }
            assertTrue(at >= 0, "node2's leg holds the last write; legs before the kill: " + open.path("legs"));
            raf.seek(at);
            byte[] old = new byte[(int) MiB];
            java.util.Arrays.fill(old, (byte) 0x11);
            raf.write(old);
        }
        assertFalse(sha(pv1File(), 16 * MiB).equals(sha(pv2File(), 16 * MiB)));
        // node0 cannot be reached: its attachment goes through the store alone, by an operator's detach or by the
        // leader declaring node0 down (storage fencing detaches what was attached there), whichever comes first
        TestCluster.await(cluster.get("node1"), n -> {
            if (api("node1").get("/v1/lvs/vg/web").path("attachments").isEmpty()) {
                return true;
            }
            try {
                api("node1").post("/v1/lvs/vg/web/detach", Map.of());
                return true;
            } catch (RuntimeException e) {
                return false;
            }
        }, Duration.ofSeconds(60), "vg/web detached from the dead node0");
        JsonNode again = api("node1").post("/v1/lvs/vg/web/attach", Map.of("node", "node1"));
        String onNode1 = again.path("attachments").get(0).path("nbdUnixUri").asText();
        // served at once, the half-written chunk read from one leg only, repaired in the background
        qemuIoOk(onNode1, List.of("read -P 0x11 0 8M", "read -P 0x12 8M 1M", "read -P 0x11 9M 7M"));
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (api("node1").get("/v1/lvs/vg/web").path("engine").path("repairPendingBytes").asLong(-1) != 0) {
            assertTrue(System.nanoTime() < deadline, "repair not done: " + api("node1").get("/v1/lvs/vg/web"));
            fivenines.testsupport.cluster.AgentProcess.sleep(200);
        }
        assertEquals(sha(pv1File(), 16 * MiB), sha(pv2File(), 16 * MiB),
            "the regions node0 had open were made alike: " + open.path("legs"));
        qemuIoOk(onNode1, List.of("read -P 0x11 0 8M", "read -P 0x12 8M 1M", "read -P 0x11 9M 7M"));
        var check = Cli.nines(cluster.get("node2"), "lv", "check", "vg/web");
        assertEquals(0, check.exit(), check.toString());
        assertTrue(check.out().contains("alike"), check.toString());
    }

    @Test
    void checkFindsLegsThatDifferAndRepairRewritesThem() throws Exception {
        cluster = TestCluster.ofThree(dir);
        String pv1 = pv("node1", "pv1.img", 64 * MiB);
        String pv2 = pv("node2", "pv2.img", 64 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv1, pv2)));
        api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "web", "size", 8 * MiB, "mirrors", 1, "on", "node1"));
        JsonNode attached = api("node0").post("/v1/lvs/vg/web/attach", Map.of("node", "node0"));
        qemuIoOk(attached.path("attachments").get(0).path("nbdUnixUri").asText(), List.of("write -P 0x21 0 8M", "flush"));
        api("node0").post("/v1/lvs/vg/web/detach", Map.of());
        try (var raf = new RandomAccessFile(pv2File().toFile(), "rw")) {
            raf.seek(DATA_OFFSET + 3 * MiB + 4096);
            raf.write(new byte[] {9, 9, 9});
        }
        var check = Cli.nines(cluster.get("node0"), "lv", "check", "vg/web");
        assertEquals(1, check.exit(), check.toString());
        assertTrue(check.out().contains("1.00 MiB differ") || check.out().contains("differ (mismatch count 1"), check.toString());
        var repair = Cli.nines(cluster.get("node0"), "lv", "check", "vg/web", "--repair", "--from", "0");
        assertEquals(0, repair.exit(), repair.toString());
        assertTrue(repair.out().contains("rewritten from leg 0"), repair.toString());
        assertEquals(sha(pv1File(), 8 * MiB), sha(pv2File(), 8 * MiB));
        assertTrue(show().path("attachments").isEmpty(), "attached for the check only");
    }

    @Test
    void aWriterCutOffFromTheStoreAndItsLegsCannotDropALegSoItsWritesAreNotAcknowledged() throws Exception {
        try (var lan = new fivenines.testsupport.cluster.Lan("mi" + ProcessHandle.current().pid() % 10_000,
            (int) (ProcessHandle.current().pid() % 200) + 21, 3)) {
            cluster = TestCluster.ofThree(dir, lan);
            String pv1 = pv("node1", "pv1.img", 64 * MiB);
            String pv2 = pv("node2", "pv2.img", 64 * MiB);
            api("node1").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv1, pv2)));
            api("node1").post("/v1/lvs", Map.of("vg", "vg", "name", "web", "size", 8 * MiB, "mirrors", 1, "on", "node1"));
            JsonNode attached = api("node1").post("/v1/lvs/vg/web/attach", Map.of("node", "node0"));
            String uri = attached.path("attachments").get(0).path("nbdUnixUri").asText();
            qemuIoOk(uri, List.of("write -P 0x31 0 8M", "flush"));

            lan.cut(List.of(0), List.of(1, 2));
            try {
                Process write = new ProcessBuilder("qemu-io", "-f", "raw", "-c", "write -P 0x32 1M 64k", "-c", "flush", uri)
                    .redirectErrorStream(true).start();
                write.getOutputStream().close();
                String out = new String(write.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(write.waitFor(120, TimeUnit.SECONDS));
                assertTrue(write.exitValue() != 0 || out.contains("failed"), "the cut-off writer's write failed: " + out);
                JsonNode seen = api("node1").get("/v1/lvs/vg/web");
                for (JsonNode leg : seen.path("legs")) {
                    assertEquals("in-sync", leg.path("state").asText(), "no leg was dropped: " + seen);
                }
            } finally {
                lan.heal();
            }
            assertEquals(sha(pv1File(), 8 * MiB), sha(pv2File(), 8 * MiB), "the legs are alike");
        }
    }

    private long missed(JsonNode volume) {
        long most = 0;
        for (JsonNode leg : volume.path("legs")) {
            most = Math.max(most, leg.path("missedBytes").asLong());
        }
        return most;
    }

    private JsonNode awaitInSync(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            JsonNode volume = show();
            boolean all = true;
            for (JsonNode leg : volume.path("legs")) {
                all &= leg.path("state").asText().equals("in-sync");
            }
            if (all) {
                return volume;
            }
            assertTrue(System.nanoTime() < deadline, "legs not in sync within " + timeout + ": " + volume);
            fivenines.testsupport.cluster.AgentProcess.sleep(200);
        }
    }

    private java.nio.file.Path pv1File() {
        return dir.resolve("pv1.img");
    }

    private java.nio.file.Path pv2File() {
        return dir.resolve("pv2.img");
    }

    private static String sha(java.nio.file.Path file, long length) throws Exception {
        var digest = MessageDigest.getInstance("SHA-256");
        try (var raf = new RandomAccessFile(file.toFile(), "r")) {
            byte[] buffer = new byte[(int) MiB];
            raf.seek(DATA_OFFSET);
            for (long done = 0; done < length; done += buffer.length) {
                raf.readFully(buffer);
                digest.update(buffer);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /** The digests of a PV's first {@code chunks} data chunks, sorted: what a leg holds, whatever order it took its chunks in. */
    private static List<String> chunkContents(java.nio.file.Path file, int chunks) throws Exception {
        var digests = new ArrayList<String>();
        try (var raf = new RandomAccessFile(file.toFile(), "r")) {
            byte[] buffer = new byte[(int) MiB];
            raf.seek(DATA_OFFSET);
            for (int c = 0; c < chunks; c++) {
                raf.readFully(buffer);
                digests.add(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(buffer)));
            }
        }
        digests.sort(null);
        return digests;
    }

    /** The digest of a chunk filled with {@code value}. */
    private static String chunkOf(int value) throws Exception {
        byte[] chunk = new byte[(int) MiB];
        java.util.Arrays.fill(chunk, (byte) value);
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(chunk));
    }

    private JsonNode show() {
        return api("node0").get("/v1/lvs/vg/web");
    }

    private AgentClient api(String node) {
        return Agents.client(cluster.get(node));
    }

    private String pv(String node, String file, long size) {
        return api(node).post("/v1/pvs", Map.of("path", dir.resolve(file).toString(), "size", size)).path("name").asText();
    }

    private void qemuIoOk(String uri, List<String> commands) throws Exception {
        var command = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        commands.forEach(c -> {
            command.add("-c");
            command.add(c);
        });
        command.add(uri);
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getOutputStream().close();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), "qemu-io did not finish");
        if (process.exitValue() != 0 || out.contains("failed")) {
            // what the agents said about the volume, so that a failure in CI says why
            var said = new StringBuilder();
            for (var agent : cluster.agents) {
                agent.loggedWarnings("vg/web").forEach(line -> said.append("\n").append(agent.name).append(": ").append(line));
            }
            throw new AssertionError(commands + ": " + out + said);
        }
    }
}
