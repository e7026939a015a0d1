package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.testsupport.cluster.AgentProcess;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Logical volumes served by the volume engine of the node they are attached to, driven by real
 * NBD clients (qemu-io, qemu-img) and the real CLI: data that moves between nodes, a full group,
 * thin clones of a golden image, fencing by epoch, a dead disk node, and image import/export.
 */
class VolumeEngineSystemTest extends ClusterSystemTest {
    private static final long MiB = 1L << 20;
    private static final long KiB = 1L << 10;

    @Test
    void aVolumeOnTwoNodesDisksWrittenFromAThirdReadsTheSameAfterMovingToAnother() throws Exception {
        cluster = TestCluster.ofThree(dir);
        String pv0 = pv("node0", "pv0.img", 64 * MiB);
        String pv1 = pv("node1", "pv1.img", 64 * MiB);
        JsonNode group = api("node2").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv0, pv1)));
        assertEquals(120 * MiB, group.path("size").asLong(), group.toString());

        // thin, and larger than either disk: what is written lands on both
        JsonNode created = api("node1").post("/v1/lvs", Map.of("vg", "vg", "name", "data", "size", 96 * MiB, "thin", true));
        assertEquals(96 * MiB, created.path("size").asLong());
        assertTrue(created.path("thin").asBoolean());
        assertEquals(0, created.path("mappedBytes").asLong());

        // asked of node0, carried out by node2, which has no disk of the group
        JsonNode first = attach("node0", "vg/data", "node2", false);
        assertEquals(List.of("node2"), attachedNodes(first));
        long firstEpoch = first.path("epoch").asLong();
        String onNode2 = attachment(first, "node2").path("nbdUri").asText();
        assertEquals("nbd://127.0.0.1:" + (cluster.get("node2").apiPort + 2) + "/vg/data", onNode2);
        onNode2 = attachment(first, "node2").path("nbdUnixUri").asText(); // TCP takes only node certificates

        var expected = new Expected(96 * MiB)
            .write(0, 70 * MiB, 0x11)                // more than node0's disk holds
            .write(MiB + 512, 4 * KiB, 0x22)         // in place, in a chunk written just before
            .write(75 * MiB, 3 * MiB, 0x33)
            .write(80 * MiB + 100 * KiB, 8 * KiB, 0x44) // part of a chunk: the rest of it reads as zeroes
            .write(95 * MiB, MiB, 0x55);             // the last chunk
        qemuIoOk(onNode2, expected.writeCommands());
        qemuIoOk(attachment(first, "node2").path("nbdUnixUri").asText(), expected.readCommands());

        JsonNode written = show("vg/data");
        assertEquals(75 * MiB, written.path("mappedBytes").asLong(), written.toString());
        JsonNode perPv = written.path("bytesByPhysicalVolume");
        assertTrue(perPv.path(pv0).asLong() > 0 && perPv.path(pv1).asLong() > 0, "data on both disks: " + perPv);
        assertEquals(75 * MiB, perPv.path(pv0).asLong() + perPv.path(pv1).asLong(), perPv.toString());
        assertEquals(List.of("node0", "node1"), texts(written.path("nodes")));

        // detached (from every node, asked of node1): what was flushed stays, the reservation comes back
        JsonNode detached = api("node1").post("/v1/lvs/vg/data/detach", Map.of());
        assertTrue(detached.path("attachments").isEmpty(), detached.toString());
        assertTrue(detached.path("epoch").asLong() > firstEpoch, detached.toString());
        assertEquals(120 * MiB - 75 * MiB, api("node0").get("/v1/vgs/vg").path("free").asLong());
        assertNotEquals(0, qemuIo(onNode2, Duration.ofSeconds(60), List.of("read 0 4k")).exit(), "node2 serves it no more");

        // attached on node1: one disk is local there, the other remote; everything reads back
        JsonNode second = attach("node2", "vg/data", "node1", false);
        assertEquals(List.of("node1"), attachedNodes(second));
        assertTrue(second.path("epoch").asLong() > detached.path("epoch").asLong(), second.toString());
        String onNode1 = attachment(second, "node1").path("nbdUnixUri").asText();
        qemuIoOk(onNode1, expected.readCommands());
        // and it writes there too
        expected.write(72 * MiB + 4 * KiB, 4 * KiB, 0x66);
        qemuIoOk(onNode1, List.of("write -P 0x66 " + (72 * MiB + 4 * KiB) + " 4k", "flush"));
        qemuIoOk(attachment(second, "node1").path("nbdUnixUri").asText(), expected.readCommands());
        assertEquals(76 * MiB, show("vg/data").path("mappedBytes").asLong());
    }

    @Test
    void aFullGroupFailsFirstWritesWithEnospcChangesNothingElseAndTheSameWriteSucceedsOnceSpaceIsAdded() throws Exception {
        cluster = TestCluster.ofThree(dir);
        String pv0 = pv("node0", "pv0.img", 64 * MiB); // 60 chunks
        api("node0").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv0)));
        api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "small", "size", 8 * MiB));
        api("node1").post("/v1/lvs", Map.of("vg", "vg", "name", "big", "size", 256 * MiB, "thin", true));
        JsonNode group = api("node2").get("/v1/vgs/vg");
        assertEquals(52 * MiB, group.path("free").asLong(), group.toString());
        assertEquals(256 * MiB, group.path("thinProvisioned").asLong(), group.toString());

        // the thick volume is written on node2 (half of its space) before the group fills
        String small = attachment(attach("node0", "vg/small", "node2", false), "node2").path("nbdUnixUri").asText();
        qemuIoOk(small, List.of("write -P 0x71 0 4M", "flush"));

        // the thin one, on node1, is filled 1 MiB at a time until the group is full: one connection, one write per chunk
        String big = attachment(attach("node0", "vg/big", "node1", false), "node1").path("nbdUnixUri").asText();
        var writes = new ArrayList<String>();
        for (int i = 0; i < 56; i++) {
            writes.add("write -P " + hex(fill(i)) + " " + i * MiB + " 1M");
        }
        writes.add("flush");
        Io filled = qemuIo(big, Duration.ofSeconds(120), writes);
        var outcomes = filled.out().lines().filter(l -> l.startsWith("wrote") || l.startsWith("write failed")).toList();
        assertEquals(56, outcomes.size(), filled.out());
        var expected = new Expected(256 * MiB);
        for (int i = 0; i < 56; i++) {
            if (i < 52) { // 52 MiB were free
                assertTrue(outcomes.get(i).startsWith("wrote 1048576/1048576 bytes at offset " + i * MiB), filled.out());
                expected.write(i * MiB, MiB, fill(i));
            } else {
                assertEquals("write failed: No space left on device", outcomes.get(i), filled.out());
            }
        }
        assertFalse(filled.out().contains("flush failed"), filled.out());

        // nothing else changed: every earlier write reads back, the failed chunk reads as zeroes
        assertEquals(0, api("node2").get("/v1/vgs/vg").path("free").asLong());
        assertEquals(52 * MiB, show("vg/big").path("mappedBytes").asLong());
        qemuIoOk(big, expected.readCommands());
        // a write into a chunk it has already, and a zeroing of one it has not, still succeed
        expected.write(3 * MiB + 4 * KiB, 4 * KiB, 0xee);
        qemuIoOk(big, List.of("write -P 0xee " + (3 * MiB + 4 * KiB) + " 4k", "write -z -u 100M 1M", "flush"));
        // the same first write fails the same way, again
        Io again = qemuIo(big, Duration.ofSeconds(60), List.of("write -P " + hex(fill(52)) + " " + 52 * MiB + " 1M"));
        assertTrue(again.out().contains("No space left on device"), again.out());
        // the thick volume writes the rest of its own space and reads everything back
        qemuIoOk(small, List.of("write -P 0x72 4M 4M", "flush", "read -P 0x71 0 4M", "read -P 0x72 4M 4M"));
        assertEquals(8 * MiB, show("vg/small").path("mappedBytes").asLong());

        // more space, on another node: the write that failed now succeeds, the old data is intact
        String pv2 = pv("node2", "pv2.img", 64 * MiB);
        JsonNode extended = api("node1").post("/v1/vgs/vg/extend", Map.of("pvs", List.of(pv2)));
        assertEquals(60 * MiB, extended.path("free").asLong(), extended.toString());
        expected.write(52 * MiB, MiB, fill(52));
        qemuIoOk(big, List.of("write -P " + hex(fill(52)) + " " + 52 * MiB + " 1M", "flush"));
        qemuIoOk(big, expected.readCommands());
        JsonNode after = show("vg/big");
        assertEquals(53 * MiB, after.path("mappedBytes").asLong(), after.toString());
        assertEquals(52 * MiB, after.path("bytesByPhysicalVolume").path(pv0).asLong(), after.toString());
        assertEquals(MiB, after.path("bytesByPhysicalVolume").path(pv2).asLong(), after.toString());
        qemuIoOk(small, List.of("read -P 0x71 0 4M", "read -P 0x72 4M 4M"));
    }

    @Test
    void twentyClonesOfAGoldenImageEachKeepTheirOwnWritesAndSpaceIsCountedToTheChunk() throws Exception {
        cluster = TestCluster.ofThree(dir);
        // 20 engines each reserve up to 32 chunks at once: the group has room for all of them
        var pvs = new ArrayList<String>();
        for (String file : List.of("node0:a", "node0:b", "node1:a", "node1:b", "node2:a")) {
            String node = file.substring(0, file.indexOf(':'));
            pvs.add(pv(node, node + "-" + file.substring(file.indexOf(':') + 1) + ".img", 160 * MiB));
        }
        api("node0").post("/v1/vgs", Map.of("name", "vg", "pvs", pvs));

        api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "base", "size", 16 * MiB, "thin", true));
        var golden = new Expected(16 * MiB).write(0, 8 * MiB, 0xa0);
        String baseUri = attachment(attach("node1", "vg/base", "node0", false), "node0").path("nbdUnixUri").asText();
        qemuIoOk(baseUri, golden.writeCommands());
        api("node2").post("/v1/lvs/vg/base/detach", Map.of());
        assertEquals(8 * MiB, show("vg/base").path("mappedBytes").asLong());

        long freeBefore = api("node0").get("/v1/vgs/vg").path("free").asLong();
        for (int i = 0; i < 20; i++) {
            JsonNode clone = api("node" + i % 3).post("/v1/lvs/vg/base/snapshot", Map.of("name", "clone" + i, "writable", true));
            assertEquals("vg/base", clone.path("origin").asText(), clone.toString());
            assertFalse(clone.path("readOnly").asBoolean());
            assertEquals(8 * MiB, clone.path("mappedBytes").asLong(), clone.toString());
            assertEquals(0, clone.path("ownBytes").asLong(), clone.toString());
        }
        assertEquals(freeBefore, api("node0").get("/v1/vgs/vg").path("free").asLong(), "clones take no space until written");

        // all twenty attached at once, spread over the nodes: each its own export
        var uris = new ArrayList<String>();
        for (int i = 0; i < 20; i++) {
            String node = "node" + i % 3;
            uris.add(attachment(attach("node" + (i + 1) % 3, "vg/clone" + i, node, false), node).path("nbdUnixUri").asText());
        }
        String exports = run("nbdinfo", "--list", "nbds://127.0.0.1:" + (cluster.get("node1").apiPort + 2)
            + "?tls-certificates=" + cluster.get("node0").dataDir.resolve("pki"));
        for (int i = 1; i < 20; i += 3) {
            assertTrue(exports.contains("vg/clone" + i), exports);
        }

        var clones = new ArrayList<Expected>();
        var touched = new ArrayList<Set<Long>>();
        for (int i = 0; i < 20; i++) {
            long offset = i * 800 * KiB + 1016 * KiB; // some of these cross into the next chunk
            long length = 16 * KiB;
            clones.add(new Expected(16 * MiB).write(0, 8 * MiB, 0xa0).write(offset, length, 0xb0 + i));
            touched.add(chunks(offset, length));
            var commands = new ArrayList<>(List.of("write -P " + hex(0xb0 + i) + " " + offset + " " + length, "flush"));
            commands.addAll(clones.get(i).readCommands());
            qemuIoOk(uris.get(i), commands);
        }
        long allTouched = touched.stream().mapToLong(Set::size).sum();
        assertTrue(allTouched > 20, "some writes cross a chunk boundary");
        // each clone wrote through its own engine: the first one still reads as it should
        qemuIoOk(uris.getFirst(), clones.getFirst().readCommands());

        // what the clones wrote is used; so are the chunks their engines hold in reserve
        long reserved = 0;
        for (int i = 0; i < 20; i++) {
            JsonNode clone = show("vg/clone" + i);
            assertEquals(touched.get(i).size() * MiB, clone.path("ownBytes").asLong(), clone.toString());
            var visible = new HashSet<>(touched.get(i));
            visible.addAll(chunks(0, 8 * MiB));
            assertEquals(visible.size() * MiB, clone.path("mappedBytes").asLong(), clone.toString());
            reserved += clone.path("attachments").get(0).path("reservedBytes").asLong();
        }
        long freeAttached = api("node0").get("/v1/vgs/vg").path("free").asLong();
        assertEquals(freeBefore - allTouched * MiB, freeAttached + reserved, "free " + freeAttached + ", reserved " + reserved);

        for (int i = 0; i < 20; i++) {
            api("node" + (i + 2) % 3).post("/v1/lvs/vg/clone" + i + "/detach", Map.of());
        }
        long freeDetached = api("node0").get("/v1/vgs/vg").path("free").asLong();
        assertEquals(freeBefore - allTouched * MiB, freeDetached, "reservations come back on detach");

        // removing ten clones frees exactly their own chunks
        long removedOwn = 0;
        long removedTouched = 0;
        for (int i = 0; i < 20; i += 2) {
            removedOwn += show("vg/clone" + i).path("ownBytes").asLong();
            removedTouched += touched.get(i).size() * MiB;
            api("node" + i % 3).delete("/v1/lvs/vg/clone" + i);
        }
        assertEquals(removedTouched, removedOwn);
        assertEquals(freeDetached + removedOwn, api("node0").get("/v1/vgs/vg").path("free").asLong());
        assertEquals(404, assertThrows(AgentClientException.class, () -> show("vg/clone0")).status());
        assertEquals(11, api("node1").get("/v1/lvs").size());

        // the base and the clones left read as before, all attached on node1 at once
        String base = attachment(attach("node0", "vg/base", "node1", false), "node1").path("nbdUnixUri").asText();
        qemuIoOk(base, golden.readCommands());
        for (int i = 1; i < 20; i += 2) {
            String uri = attachment(attach("node2", "vg/clone" + i, "node1", false), "node1").path("nbdUnixUri").asText();
            qemuIoOk(uri, clones.get(i).readCommands());
        }
        assertEquals(0, show("vg/base").path("ownBytes").asLong());
        assertEquals(8 * MiB, show("vg/base").path("mappedBytes").asLong());
    }

    @Test
    void aForcedTakeOverCutsTheOldWriterOffAndTheNewOneSeesWhatWasFlushed() throws Exception {
        cluster = TestCluster.ofThree(dir);
        String pv0 = pv("node0", "pv0.img", 64 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv0)));
        api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "disk", "size", 32 * MiB, "thin", true));

        JsonNode one = attach("node0", "vg/disk", "node1", false);
        long firstEpoch = one.path("epoch").asLong();
        String oldUri = attachment(one, "node1").path("nbdUnixUri").asText();
        // one connection, kept open across the take-over as a guest's disk would be: it writes, flushes,
        // reads (a sign that the flush is done), sleeps while node2 takes over, then tries again
        var old = new BackgroundQemuIo(oldUri, List.of("write -P 0x61 0 1M", "write -P 0x62 4M 4k", "flush",
            "read -P 0x62 4M 4k", "sleep 15000", "write -P 0x99 0 4k", "write -P 0x98 8M 4k", "read -P 0x61 0 4k"));
        old.await("read 4096/4096 bytes at offset " + 4 * MiB, Duration.ofSeconds(60));
        long sleeping = System.nanoTime();

        // a second sole writer is refused; a forced one takes over
        var refused = assertThrows(AgentClientException.class, () -> attach("node0", "vg/disk", "node2", false));
        assertEquals(409, refused.status(), refused.getMessage());
        JsonNode taken = attach("node0", "vg/disk", "node2", true);
        assertTrue(Duration.ofNanos(System.nanoTime() - sleeping).toSeconds() < 12, "the take-over took too long for the test");
        assertEquals(List.of("node2"), attachedNodes(taken));
        assertTrue(taken.path("epoch").asLong() > firstEpoch, taken.toString());

        // the old writer's open connection: writes in place and to new chunks fail, and reads of its data
        Io fenced = old.finish(Duration.ofSeconds(90));
        String beforeTakeOver = fenced.out().substring(0, fenced.out().indexOf("read 4096/4096"));
        String afterTakeOver = fenced.out().substring(fenced.out().indexOf("read 4096/4096"));
        assertFalse(beforeTakeOver.contains("failed"), fenced.out());
        assertTrue(beforeTakeOver.contains("wrote 1048576/1048576 bytes at offset 0"), fenced.out());
        assertEquals(2, count(afterTakeOver, "write failed"), fenced.out());
        assertEquals(1, count(afterTakeOver, "read failed"), fenced.out());
        assertFalse(afterTakeOver.contains("wrote"), fenced.out());
        assertNotEquals(0, fenced.exit());
        // and a new connection to it finds no export
        Io reopened = qemuIo(oldUri, Duration.ofSeconds(60), List.of("read 0 4k"));
        assertNotEquals(0, reopened.exit(), reopened.out());

        // the new writer sees what was flushed before the take-over and nothing of the fenced writes
        var expected = new Expected(32 * MiB).write(0, MiB, 0x61).write(4 * MiB, 4 * KiB, 0x62);
        String newUri = attachment(taken, "node2").path("nbdUnixUri").asText();
        qemuIoOk(newUri, expected.readCommands());
        expected.write(8 * MiB, 4 * KiB, 0x63).write(512 * KiB, 4 * KiB, 0x64);
        qemuIoOk(newUri, List.of("write -P 0x63 8M 4k", "write -P 0x64 512k 4k", "flush"));
        qemuIoOk(attachment(taken, "node2").path("nbdUnixUri").asText(), expected.readCommands());
        JsonNode after = show("vg/disk");
        assertEquals(3 * MiB, after.path("mappedBytes").asLong(), after.toString());
        assertEquals(taken.path("epoch").asLong(), after.path("epoch").asLong(), after.toString());
    }

    @Test
    void whenADiskNodeDiesItsVolumesFailFastAndTheOthersCarryOn() throws Exception {
        cluster = TestCluster.ofThree(dir);
        String pv1 = pv("node1", "pv1.img", 64 * MiB);
        String pv2 = pv("node2", "pv2.img", 64 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv1, pv2)));
        JsonNode a = api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "a", "size", 16 * MiB, "on", "node1"));
        JsonNode b = api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "b", "size", 16 * MiB, "on", "node2"));
        assertEquals(Map.of(pv1, 16 * MiB), perPhysicalVolume(a), a.toString());
        assertEquals(Map.of(pv2, 16 * MiB), perPhysicalVolume(b), b.toString());

        String uriA = attachment(attach("node0", "vg/a", "node0", false), "node0").path("nbdUnixUri").asText();
        String uriB = attachment(attach("node0", "vg/b", "node0", false), "node0").path("nbdUnixUri").asText();
        qemuIoOk(uriA, List.of("write -P 0xa1 0 2M", "flush"));
        qemuIoOk(uriB, List.of("write -P 0xb1 0 2M", "flush"));

        cluster.get("node2").kill();

        long start = System.nanoTime();
        Io read = qemuIo(uriB, Duration.ofSeconds(90), List.of("read -P 0xb1 0 1M"));
        Io write = qemuIo(uriB, Duration.ofSeconds(90), List.of("write -P 0xb2 4M 1M", "flush"));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertTrue(read.out().contains("read failed"), read.out());
        assertNotEquals(0, read.exit());
        assertTrue(write.out().contains("failed"), write.out());
        assertNotEquals(0, write.exit());
        assertTrue(took.compareTo(Duration.ofSeconds(60)) < 0, "I/O to a dead node's disk failed after " + took);

        qemuIoOk(uriA, List.of("read -P 0xa1 0 2M", "write -P 0xa2 4M 1M", "flush", "read -P 0xa2 4M 1M",
            "read -P 0 5M 11M"));
        JsonNode after = show("vg/a");
        assertEquals(3 * MiB, after.path("mappedBytes").asLong(), after.toString());
        // a thick volume's chunks: written ones, plus those its engine holds (taken from its pool), all on node1
        assertEquals(Set.of(pv1), perPhysicalVolume(after).keySet(), after.toString());
        assertEquals(16 * MiB, perPhysicalVolume(after).get(pv1) + attachment(after, "node0").path("reservedBytes").asLong(),
            after.toString());
        assertEquals(List.of("node1"), texts(after.path("nodes")));
        System.out.println("I/O to a volume on a dead node failed after " + took.toMillis() + " ms (a read and a write)");
    }

    @Test
    void aVolumeWhoseEngineCouldNotStartWithoutAQuorumIsServedOnceTheStoreAnswers() throws Exception {
        cluster = TestCluster.ofThree(dir);
        String pv1 = pv("node1", "pv1.img", 64 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv1)));
        api("node0").post("/v1/lvs", Map.of("vg", "vg", "name", "kept", "size", 16 * MiB, "on", "node1"));
        String uri = attachment(attach("node0", "vg/kept", "node1", false), "node1").path("nbdUnixUri").asText();
        qemuIoOk(uri, List.of("write -P 0xc1 0 1M", "flush"));

        // node1 restarts alone: its store has no quorum, so its engine cannot read the volume and does not start
        cluster.get("node0").kill();
        cluster.get("node2").kill();
        AgentProcess node1 = cluster.get("node1");
        node1.stopGracefully();
        node1.start();
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (node1.loggedWarnings("vg/kept: cannot start its volume engine").isEmpty() && System.nanoTime() < deadline) {
            AgentProcess.sleep(200);
        }
        assertFalse(node1.loggedWarnings("vg/kept: cannot start its volume engine").isEmpty(),
            "without a quorum the engine could not start: " + node1.loggedWarnings("vg/kept"));
        assertNotEquals(0, qemuIo(uri, Duration.ofSeconds(30), List.of("read -P 0xc1 0 4k")).exit(), "not served yet");

        // a quorum again, and no volume command since: the engine starts by itself and serves what was written
        cluster.get("node0").start();
        long start = System.nanoTime();
        Io read = null;
        while (System.nanoTime() - start < Duration.ofSeconds(60).toNanos()) {
            read = qemuIo(uri, Duration.ofSeconds(30), List.of("read -P 0xc1 0 1M"));
            if (read.exit() == 0 && !read.out().contains("failed")) {
                break;
            }
            AgentProcess.sleep(500);
        }
        assertTrue(read.exit() == 0 && !read.out().contains("failed"), "vg/kept is not served on node1 once the store answers: "
            + read.out() + "; node1 logged " + node1.loggedWarnings("vg/kept"));
        assertFalse(node1.loggedInfo("failed tries)").isEmpty(), node1.loggedInfo("vg/kept").toString());
        System.out.println("vg/kept served again " + (System.nanoTime() - start) / 1_000_000 + " ms after node0 returned");
    }

    @Test
    void anImageImportedWithTheCliExportsIdenticallyAndBadInputChangesNothing() throws Exception {
        cluster = TestCluster.ofThree(dir);
        String pv1 = pv("node1", "pv1.img", 64 * MiB);
        api("node0").post("/v1/vgs", Map.of("name", "vg", "pvs", List.of(pv1)));

        // 24 MiB: random, a hole of 8 MiB, random
        Path raw = dir.resolve("image.raw");
        var random = new Random(42);
        try (var channel = FileChannel.open(raw, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            byte[] bytes = new byte[(int) (8 * MiB)];
            random.nextBytes(bytes);
            channel.write(ByteBuffer.wrap(bytes), 0);
            random.nextBytes(bytes);
            channel.write(ByteBuffer.wrap(bytes), 16 * MiB);
        }
        assertEquals(24 * MiB, Files.size(raw));
        Path qcow2 = dir.resolve("image.qcow2");
        run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw.toString(), qcow2.toString());

        var node1 = cluster.get("node1").cliEnvironment();
        var node2 = cluster.get("node2").cliEnvironment();
        Cli.Outcome imported = Cli.run(node1, "lv", "import", qcow2.toString(), "vg/imported");
        assertEquals(0, imported.exit(), imported.out() + imported.err());
        JsonNode lv = show("vg/imported");
        assertEquals(24 * MiB, lv.path("size").asLong(), lv.toString());
        assertTrue(lv.path("thin").asBoolean(), lv.toString());
        assertTrue(lv.path("attachments").isEmpty(), "detached after the copy: " + lv);
        assertEquals(16 * MiB, lv.path("mappedBytes").asLong(), "the hole takes no space: " + lv);

        // exported through another node, raw and qcow2
        Path outRaw = dir.resolve("out.raw");
        Cli.Outcome exported = Cli.run(node2, "lv", "export", "vg/imported", outRaw.toString());
        assertEquals(0, exported.exit(), exported.out() + exported.err());
        assertEquals(24 * MiB, Files.size(outRaw));
        assertEquals(-1, Files.mismatch(raw, outRaw), "exported image differs from the original");
        Path outQcow2 = dir.resolve("out.qcow2");
        Cli.Outcome exportedQcow2 = Cli.run(node1, "lv", "export", "vg/imported", outQcow2.toString());
        assertEquals(0, exportedQcow2.exit(), exportedQcow2.out() + exportedQcow2.err());
        assertTrue(run("qemu-img", "info", outQcow2.toString()).contains("file format: qcow2"));
        run("qemu-img", "compare", raw.toString(), outQcow2.toString());
        assertTrue(show("vg/imported").path("attachments").isEmpty());

        // bad input: clear errors, nothing created, nothing overwritten
        long free = api("node0").get("/v1/vgs/vg").path("free").asLong();
        Cli.Outcome missing = Cli.run(node1, "lv", "import", "/nonexistent/disk.qcow2", "vg/x");
        assertNotEquals(0, missing.exit());
        assertTrue(missing.err().contains("cannot read /nonexistent/disk.qcow2"), missing.out() + missing.err());
        assertEquals(404, assertThrows(AgentClientException.class, () -> show("vg/x")).status());
        Cli.Outcome existing = Cli.run(node1, "lv", "export", "vg/imported", outRaw.toString());
        assertNotEquals(0, existing.exit());
        assertTrue(existing.err().contains("exists already"), existing.out() + existing.err());
        assertEquals(-1, Files.mismatch(raw, outRaw));
        assertEquals(1, api("node2").get("/v1/lvs").size());
        assertEquals(free, api("node0").get("/v1/vgs/vg").path("free").asLong());

        api("node1").post("/v1/lvs", Map.of("vg", "vg", "name", "tiny", "size", 8 * MiB));
        Cli.Outcome tooSmall = Cli.run(node1, "lv", "import", raw.toString(), "vg/tiny");
        assertNotEquals(0, tooSmall.exit());
        assertTrue(tooSmall.err().contains("extend it first"), tooSmall.out() + tooSmall.err());
        assertTrue(show("vg/tiny").path("attachments").isEmpty());
        assertEquals(0, show("vg/tiny").path("mappedBytes").asLong());
    }

    // ---- the API ----

    private AgentClient api(String node) {
        return Agents.client(cluster.get(node));
    }

    private String pv(String node, String file, long size) {
        return api(node).post("/v1/pvs", Map.of("path", dir.resolve(file).toString(), "size", size)).path("name").asText();
    }

    private JsonNode show(String volume) {
        return api("node0").get("/v1/lvs/" + volume);
    }

    /** Asks {@code via} to attach {@code volume} on {@code node}. */
    private JsonNode attach(String via, String volume, String node, boolean force) {
        return api(via).post("/v1/lvs/" + volume + "/attach", Map.of("node", node, "shared", false, "force", force));
    }

    private static JsonNode attachment(JsonNode volume, String node) {
        for (JsonNode a : volume.path("attachments")) {
            if (a.path("node").asText().equals(node)) {
                return a;
            }
        }
        throw new AssertionError(volume.path("path").asText() + " is not attached on " + node + ": " + volume);
    }

    private static List<String> attachedNodes(JsonNode volume) {
        var nodes = new ArrayList<String>();
        volume.path("attachments").forEach(a -> nodes.add(a.path("node").asText()));
        return nodes;
    }

    private static List<String> texts(JsonNode array) {
        var list = new ArrayList<String>();
        array.forEach(n -> list.add(n.asText()));
        return list;
    }

    private static Map<String, Long> perPhysicalVolume(JsonNode volume) {
        var map = new java.util.TreeMap<String, Long>();
        volume.path("bytesByPhysicalVolume").properties().forEach(e -> map.put(e.getKey(), e.getValue().asLong()));
        return map;
    }

    private static Set<Long> chunks(long offset, long length) {
        var set = new TreeSet<Long>();
        for (long c = offset / MiB; c <= (offset + length - 1) / MiB; c++) {
            set.add(c);
        }
        return set;
    }

    private static int fill(int i) {
        return 0x01 + i;
    }

    private static String hex(int pattern) {
        return String.format("0x%02x", pattern);
    }

    // ---- real NBD clients ----

    record Io(int exit, String out) {
    }

    private static Io qemuIo(String uri, Duration timeout, List<String> commands) throws Exception {
        var command = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        commands.forEach(c -> {
            command.add("-c");
            command.add(c);
        });
        command.add(uri);
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getOutputStream().close();
        var output = new StringBuilder();
        Thread reader = Thread.ofVirtual().start(() -> {
            try {
                output.append(new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                output.append("(output lost: ").append(e.getMessage()).append(')');
            }
        });
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            process.waitFor();
            reader.join();
            throw new AssertionError("qemu-io " + commands + " on " + uri + " did not finish within " + timeout + ": " + output);
        }
        reader.join();
        return new Io(process.exitValue(), output.toString());
    }

    private static String qemuIoOk(String uri, List<String> commands) throws Exception {
        Io io = qemuIo(uri, Duration.ofSeconds(120), commands);
        assertEquals(0, io.exit(), uri + " " + commands + ": " + io.out());
        assertFalse(io.out().contains("failed"), uri + " " + commands + ": " + io.out());
        return io.out();
    }

    private static String run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getOutputStream().close();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, process.exitValue(), String.join(" ", command) + ": " + out);
        return out;
    }

    private static int count(String text, String part) {
        int count = 0;
        for (int at = text.indexOf(part); at >= 0; at = text.indexOf(part, at + 1)) {
            count++;
        }
        return count;
    }

    /** qemu-io running its commands on one connection while the test goes on (line-buffered, so it can be followed). */
    static final class BackgroundQemuIo {
        private final Process process;
        private final StringBuffer output = new StringBuffer();
        private final Thread reader;

        BackgroundQemuIo(String uri, List<String> commands) throws IOException {
            var command = new ArrayList<>(List.of("stdbuf", "-oL", "qemu-io", "-f", "raw"));
            commands.forEach(c -> {
                command.add("-c");
                command.add(c);
            });
            command.add(uri);
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
            process.getOutputStream().close();
            reader = Thread.ofVirtual().start(() -> {
                try (var lines = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                        output.append(line).append('\n');
                    }
                } catch (IOException e) {
                    output.append("(output lost: ").append(e.getMessage()).append(")\n");
                }
            });
        }

        void await(String text, Duration timeout) {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!output.toString().contains(text)) {
                if (System.nanoTime() > deadline || !process.isAlive() && !reader.isAlive()) {
                    process.destroyForcibly();
                    throw new AssertionError("qemu-io did not print '" + text + "': " + output);
                }
                AgentProcess.sleep(20);
            }
        }

        Io finish(Duration timeout) throws InterruptedException {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                process.waitFor();
                reader.join();
                throw new AssertionError("qemu-io did not finish within " + timeout + ": " + output);
            }
            reader.join();
            return new Io(process.exitValue(), output.toString());
        }
    }

    /** What a volume must read as: where writes overlap the later one wins, zeroes where none was. */
    static final class Expected {
        private final long size;
        private final List<long[]> writes = new ArrayList<>();

        Expected(long size) {
            this.size = size;
        }

        Expected write(long offset, long length, int pattern) {
            writes.add(new long[] {offset, length, pattern});
            return this;
        }

        List<String> writeCommands() {
            var commands = new ArrayList<String>();
            for (long[] w : writes) {
                commands.add("write -P " + hex((int) w[2]) + " " + w[0] + " " + w[1]);
            }
            commands.add("flush");
            return commands;
        }

        /** Reads of the whole volume, each range (of at most 16 MiB) checked against the pattern it must hold. */
        List<String> readCommands() {
            var cuts = new TreeSet<Long>(List.of(0L, size));
            for (long[] w : writes) {
                cuts.add(w[0]);
                cuts.add(w[0] + w[1]);
            }
            var runs = new ArrayList<long[]>(); // start, end, pattern
            Long previous = null;
            for (long cut : cuts) {
                if (previous != null) {
                    int pattern = patternAt(previous);
                    if (!runs.isEmpty() && runs.getLast()[2] == pattern) {
                        runs.getLast()[1] = cut;
                    } else {
                        runs.add(new long[] {previous, cut, pattern});
                    }
                }
                previous = cut;
            }
            var commands = new ArrayList<String>();
            for (long[] run : runs) {
                for (long at = run[0]; at < run[1]; at += 16 * MiB) {
                    commands.add("read -P " + hex((int) run[2]) + " " + at + " " + Math.min(16 * MiB, run[1] - at));
                }
            }
            return commands;
        }

        private int patternAt(long offset) {
            int pattern = 0;
            for (long[] w : writes) {
                if (offset >= w[0] && offset < w[0] + w[1]) {
                    pattern = (int) w[2];
                }
            }
            return pattern;
        }
    }
}
