package fivenines.block.volume;

import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.model.command.AttachLogicalVolume;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.ExtendVolumeGroup;
import fivenines.model.command.SnapshotLogicalVolume;
import fivenines.model.storage.VolumeView;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static fivenines.block.volume.VolumeTestCluster.PV0;
import static fivenines.block.volume.VolumeTestCluster.PV1;
import static fivenines.block.volume.VolumeTestCluster.PV2;
import static fivenines.block.volume.VolumeTestCluster.value;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The volume engine behind a real NBD server, driven by qemu-io and nbdinfo, with chunks on a local and a remote PV. */
class VolumeEngineTest {
    static final long MIB = 1L << 20;
    @TempDir
    Path dir;
    VolumeTestCluster cluster;

    @AfterEach
    void close() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    record Outcome(int exit, String out) {
    }

    static Outcome qemuIo(String uri, String... commands) throws Exception {
        return qemuIo(List.of(), uri, commands);
    }

    /** qemu-io with the write-back cache: its writes carry no FUA, as a guest's with cache=none or writeback. */
    static Outcome qemuIoWriteback(String uri, String... commands) throws Exception {
        return qemuIo(List.of("-t", "writeback"), uri, commands);
    }

    private static Outcome qemuIo(List<String> options, String uri, String... commands) throws Exception {
        var command = new java.util.ArrayList<>(List.of("qemu-io", "-f", "raw"));
        command.addAll(options);
        for (String c : commands) {
            command.add("-c");
            command.add(c);
        }
        command.add(uri);
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getOutputStream().close();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), "qemu-io did not finish");
        return new Outcome(process.exitValue(), out);
    }

    static void ok(Outcome outcome) {
        assertTrue(outcome.exit() == 0 && !outcome.out().contains("failed"), outcome.out());
    }

    @Test
    void aThinVolumeOnTwoNodesReadsBackEveryWriteAndCommitsItsChunks() throws Exception {
        cluster = new VolumeTestCluster(dir, 32 * MIB);
        value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV0, PV1))));
        value(cluster.apply(new CreateLogicalVolume("vg", "data", 48 * MIB, "n0", true)));
        cluster.attach("vg", "data");
        String uri = cluster.uri("vg/data");
        var writes = new java.util.ArrayList<String>();
        var reads = new java.util.ArrayList<String>();
        for (int i = 0; i < 40; i++) {
            String pattern = "0x" + Integer.toHexString(0x20 + i);
            writes.add("write -P " + pattern + " " + (i * MIB + 512 * 1024) + " 8192");
            reads.add("read -P " + pattern + " " + (i * MIB + 512 * 1024) + " 8192");
            reads.add("read -P 0 " + (i * MIB) + " " + (512 * 1024));
            reads.add("read -P 0 " + (i * MIB + 512 * 1024 + 8192) + " " + (512 * 1024 - 8192));
        }
        writes.add("flush");
        ok(qemuIo(uri, writes.toArray(String[]::new)));
        ok(qemuIo(uri, reads.toArray(String[]::new)));
        ok(qemuIo(uri, "read -P 0 " + (45 * MIB) + " 4096"));
        // the check is not vacuous: a wrong pattern fails
        assertTrue(qemuIo(uri, "read -P 0x21 " + (512 * 1024) + " 8192").out().contains("Pattern verification failed"));

        VolumeView view = cluster.view("vg/data");
        assertEquals(40, view.chunks().size(), "every written chunk is committed after the flush");
        assertEquals(2, view.chunks().values().stream().map(l -> l.chunk().physicalVolume()).distinct().count(),
            "the volume spans the local and the remote physical volume");
    }

    @Test
    void aSnapshotSharesChunksUntilOneSideWritesThenCopiesOneChunk() throws Exception {
        cluster = new VolumeTestCluster(dir, 32 * MIB);
        value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV0, PV1))));
        value(cluster.apply(new CreateLogicalVolume("vg", "base", 8 * MIB, "n0", true)));
        VolumeEngine base = cluster.attach("vg", "base");
        ok(qemuIo(cluster.uri("vg/base"), "write -P 0xaa 0 " + 4 * MIB, "flush"));
        base.quiesced(epoch -> value(cluster.apply(new SnapshotLogicalVolume("vg", "base", "snap", true, epoch))));
        ok(qemuIo(cluster.uri("vg/base"), "write -P 0xbb " + (MIB + 4096) + " 4096", "flush"));
        cluster.attach("vg", "snap");
        ok(qemuIo(cluster.uri("vg/snap"), "read -P 0xaa 0 " + 4 * MIB, "read -P 0 " + 4 * MIB + " " + 4 * MIB));
        ok(qemuIo(cluster.uri("vg/base"), "read -P 0xaa 0 " + (MIB + 4096), "read -P 0xbb " + (MIB + 4096) + " 4096",
            "read -P 0xaa " + (MIB + 8192) + " " + (3 * MIB - 8192)));
        VolumeView after = cluster.view("vg/base");
        assertEquals(1, after.chunks().values().stream().filter(VolumeView.Located::own).count(), "one chunk was copied");
        synchronized (cluster) { // reservations are refilled in the background: count in one consistent state
            assertEquals(5, cluster.machine.state().volumes().usedChunks(PV0) + cluster.machine.state().volumes().usedChunks(PV1)
                - reservedChunks(), "four shared chunks and one copy are in use");
        }

        // base:allocation: own chunks are data, shared ones and unwritten ones are holes (a write there may need space)
        var map = new ProcessBuilder("nbdinfo", "--map", cluster.uri("vg/base")).redirectErrorStream(true).start();
        String out = new String(map.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        map.waitFor();
        assertTrue(out.lines().anyMatch(l -> l.trim().startsWith("0 ") && l.contains("hole") && !l.contains("data")),
            "the chunk shared with the snapshot is a hole: " + out);
        assertTrue(out.lines().anyMatch(l -> l.trim().startsWith("1048576") && l.contains("data")), out);
        assertTrue(out.lines().anyMatch(l -> l.trim().startsWith("4194304") && l.contains("hole,zero")), out);
    }

    @Test
    void aVolumeWhollyOnLocalDisksIsServedInPlaceAndOneWithARemoteChunkIsNot() throws Exception {
        cluster = new VolumeTestCluster(dir, 32 * MIB);
        value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV0, PV1))));
        value(cluster.apply(new CreateLogicalVolume("vg", "near", 8 * MIB, "n0", true)));
        value(cluster.apply(new CreateLogicalVolume("vg", "far", 4 * MIB, "n1", false)));
        VolumeEngine near = cluster.attach("vg", "near");
        ok(qemuIo(cluster.uri("vg/near"), "write -P 0x11 0 " + 6 * MIB, "flush"));
        assertTrue(cluster.view("vg/near").chunks().values().stream().allMatch(l -> l.chunk().physicalVolume().equals(PV0)));
        assertTrue(near.servesFromMemory(), "every chunk (and every reserved one) is on n0's own PV");
        VolumeEngine far = cluster.attach("vg", "far");
        ok(qemuIo(cluster.uri("vg/far"), "write -P 0x22 0 " + 4 * MIB, "flush", "read -P 0x22 0 " + 4 * MIB));
        assertTrue(cluster.view("vg/far").chunks().values().stream().allMatch(l -> l.chunk().physicalVolume().equals(PV1)));
        assertTrue(!far.servesFromMemory(), "a thick volume allocated on n1 waits on the network");
        ok(qemuIo(cluster.uri("vg/near"), "read -P 0x11 0 " + 6 * MIB, "read -P 0 " + 6 * MIB + " " + 2 * MIB));
    }

    @Test
    void firstWritesFindTheirChunksReservedAheadAndTheGroupsSpaceStaysExact() throws Exception {
        cluster = new VolumeTestCluster(dir, 64 * MIB);
        value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV0))));
        value(cluster.apply(new CreateLogicalVolume("vg", "thin", 48 * MIB, "n0", true)));
        VolumeEngine engine = cluster.attach("vg", "thin");
        ok(qemuIo(cluster.uri("vg/thin"), "write -P 0x2f " + 40 * MIB + " 4096", "write -P 0x2f " + 41 * MIB + " 4096"));
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (reservedChunks() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(reservedChunks() > 0, "the first batch (2 chunks) is used up, and more were reserved before a write needed them");
        long before = countReserveCommands();
        // one 4 KiB write per new chunk, as a guest filling a fresh disk does
        var writes = new java.util.ArrayList<String>();
        for (int i = 0; i < 40; i++) {
            writes.add("write -P 0x" + Integer.toHexString(0x30 + i) + " " + (i * MIB) + " 4096");
        }
        writes.add("flush");
        ok(qemuIo(cluster.uri("vg/thin"), writes.toArray(String[]::new)));
        long reservations = countReserveCommands() - before;
        assertTrue(reservations <= 6, "40 new chunks took " + reservations + " reservations (batches grow to 32)");
        engine.close();
        value(cluster.apply(new fivenines.model.command.DetachLogicalVolume("vg", "thin", null)));
        synchronized (cluster) {
            assertEquals(42, cluster.machine.state().volumes().usedChunks(PV0),
                "after detach only the 42 written chunks are in use: what was reserved ahead went back");
            assertEquals(42, cluster.view("vg/thin").chunks().size());
        }
        cluster.attach("vg", "thin");
        var reads = new java.util.ArrayList<String>();
        for (int i = 0; i < 40; i++) {
            reads.add("read -P 0x" + Integer.toHexString(0x30 + i) + " " + (i * MIB) + " 4096");
            reads.add("read -P 0 " + (i * MIB + 4096) + " " + (MIB - 4096));
        }
        ok(qemuIo(cluster.uri("vg/thin"), reads.toArray(String[]::new)));
    }

    @Test
    void aFuaWriteIntoAFreshChunkLeavesNothingOfThatChunkUnflushedWhenItReturns() throws Exception {
        cluster = new VolumeTestCluster(dir, 32 * MIB);
        value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV0))));
        value(cluster.apply(new CreateLogicalVolume("vg", "thin", 16 * MIB, "n0", true)));
        VolumeEngine engine = cluster.attach("vg", "thin");
        var data = ByteBuffer.allocate(4096);
        while (data.hasRemaining()) {
            data.put((byte) 0x5a);
        }
        // 4 KiB in the middle of a chunk never written: the engine zeroes the rest of the chunk around it, without
        // FUA, and the commit that makes the chunk visible flushes the PV first
        engine.write(3 * MIB + 64 * 1024, data.flip(), true);
        var left = cluster.unflushed.getOrDefault(pv0Export(), List.of());
        assertTrue(left.isEmpty(), "a FUA write was acknowledged with ranges of its fresh chunk not on stable storage: "
            + left.stream().map(r -> r[0] + "+" + r[1]).toList());
        synchronized (cluster) {
            assertEquals(1, cluster.view("vg/thin").chunks().size(), "its mapping was committed before it returned");
        }
        var back = ByteBuffer.allocate((int) MIB);
        engine.read(3 * MIB, back);
        for (int i = 0; i < MIB; i++) {
            byte expected = i >= 64 * 1024 && i < 64 * 1024 + 4096 ? (byte) 0x5a : 0;
            if (back.get(i) != expected) {
                throw new AssertionError("byte " + i + " of the chunk reads " + back.get(i));
            }
        }
    }

    String pv0Export() {
        synchronized (cluster) {
            return cluster.machine.state().storage().requirePhysicalVolume(PV0).exportName();
        }
    }

    long countReserveCommands() {
        return cluster.commands.stream().filter(c -> c instanceof fivenines.model.command.ReserveChunks).count();
    }

    long reservedChunks() {
        return cluster.machine.state().volumes().volumes().stream()
            .flatMap(v -> v.attachments().stream()).mapToLong(a -> a.reserved().size()).sum();
    }

    @Test
    void aFullGroupFailsTheFirstWriteWithEnospcKeepsTheDataAndTakesAddedSpace() throws Exception {
        cluster = new VolumeTestCluster(dir, 16 * MIB);
        value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV0))));
        value(cluster.apply(new CreateLogicalVolume("vg", "big", 64 * MIB, "n0", true)));
        cluster.attach("vg", "big");
        String uri = cluster.uri("vg/big");
        var writes = new java.util.ArrayList<String>();
        for (int i = 0; i < 16; i++) {
            writes.add("write -P 0x" + Integer.toHexString(0x40 + i) + " " + i * MIB + " " + MIB);
        }
        writes.add("flush");
        ok(qemuIo(uri, writes.toArray(String[]::new)));
        Outcome full = qemuIo(uri, "write -P 0x99 " + 16 * MIB + " 4096");
        assertTrue(full.out().contains("No space left on device"), full.out());
        var reads = new java.util.ArrayList<String>();
        for (int i = 0; i < 16; i++) {
            reads.add("read -P 0x" + Integer.toHexString(0x40 + i) + " " + i * MIB + " " + MIB);
        }
        reads.add("read -P 0 " + 16 * MIB + " " + MIB);
        ok(qemuIo(uri, reads.toArray(String[]::new)));
        // a write to a chunk the volume owns never fails for space
        ok(qemuIo(uri, "write -P 0x77 0 4096", "read -P 0x77 0 4096"));

        cluster.addPv(dir, PV2, "n0", 16 * MIB);
        value(cluster.apply(new ExtendVolumeGroup("vg", List.of(PV2))));
        ok(qemuIo(uri, "write -P 0x99 " + 16 * MIB + " 4096", "flush", "read -P 0x99 " + 16 * MIB + " 4096"));
    }

    @Test
    void anAttachmentTakenElsewhereCutsTheOldWriterOff() throws Exception {
        cluster = new VolumeTestCluster(dir, 32 * MIB);
        value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV1))));
        value(cluster.apply(new CreateLogicalVolume("vg", "web", 8 * MIB, null, false)));
        VolumeEngine engine = cluster.attach("vg", "web");
        long oldEpoch = engine.epoch();
        ok(qemuIo(cluster.uri("vg/web"), "write -P 0x11 0 65536", "flush"));
        value(cluster.apply(new AttachLogicalVolume("vg", "web", "n1", false, true)));

        Outcome refused = qemuIo(cluster.uri("vg/web"), "write -P 0x22 0 4096");
        assertTrue(refused.out().contains("failed"), refused.out());
        // the block service itself refuses a connection or request at the old epoch
        VolumeView view = cluster.view("vg/web");
        String pvExport = "pv-" + PV1;
        var stale = new GuardedExport(cluster.files.get(pvExport), "vg/web", oldEpoch, cluster::epoch);
        var error = assertThrows(NbdErrorException.class, () -> stale.write(0, ByteBuffer.allocate(512), false));
        assertEquals(NbdProtocol.ESHUTDOWN, error.errno());
        assertTrue(error.getMessage().contains("cut off"), error.getMessage());
        assertThrows(java.io.IOException.class, () -> new RemoteExport("127.0.0.1:" + cluster.remoteServer.tcpPort(),
            GuardedExport.exportName(pvExport, "vg/web", oldEpoch), java.time.Duration.ofSeconds(2), null));
        // and the data written before the takeover is intact at the new epoch
        var current = new RemoteExport("127.0.0.1:" + cluster.remoteServer.tcpPort(),
            GuardedExport.exportName(pvExport, "vg/web", view.epoch()), java.time.Duration.ofSeconds(2), null);
        var located = view.chunks().get(0L);
        ByteBuffer back = ByteBuffer.allocate(65536);
        current.read(located.chunk().offset(), back);
        for (byte b : back.array()) {
            assertEquals(0x11, b);
        }
        current.close();
    }

    /**
     * A migration's destination shares the attachment and takes its epoch at the switch-over, then the
     * source detaches: the destination's first request to a remote PV after that asks the PV's block
     * service for an epoch it no longer serves. That is a refusal for an old epoch (take the new one and
     * retry), not an I/O error for the guest.
     */
    @Test
    void aFirstConnectionToARemotePvAtAnOutdatedEpochTakesTheNewEpochInsteadOfFailing() throws Exception {
        cluster = new VolumeTestCluster(dir, 32 * MIB);
        value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV1))));
        value(cluster.apply(new CreateLogicalVolume("vg", "web", 8 * MIB, null, false)));
        VolumeEngine first = cluster.attach("vg", "web");
        ok(qemuIo(cluster.uri("vg/web"), "write -P 0x5a 0 65536", "flush"));
        first.close();
        cluster.engines.remove(first.name());
        value(cluster.apply(new fivenines.model.command.DetachLogicalVolume("vg", "web", "n0")));
        // a fresh engine (a migration's destination) with the chunk mapped and no connection to its PV yet
        VolumeEngine engine = cluster.attach("vg", "web");
        value(cluster.apply(new AttachLogicalVolume("vg", "web", "n1", true, false)));
        long switched = engine.epoch();
        value(cluster.apply(new fivenines.model.command.DetachLogicalVolume("vg", "web", "n1")));
        assertTrue(cluster.view("vg/web").epoch() > switched, "the detach moved the epoch");
        assertEquals(switched, engine.epoch(), "the engine has not been told yet");

        ok(qemuIo(cluster.uri("vg/web"), "read -P 0x5a 0 65536", "write -P 0x6b 4096 4096", "flush",
            "read -P 0x6b 4096 4096"));
        assertEquals(cluster.view("vg/web").epoch(), engine.epoch());
    }
}
