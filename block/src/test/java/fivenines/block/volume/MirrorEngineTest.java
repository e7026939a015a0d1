package fivenines.block.volume;

import fivenines.model.command.AddLeg;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.DetachLogicalVolume;
import fivenines.model.command.DropLeg;
import fivenines.model.command.SnapshotLogicalVolume;
import fivenines.model.storage.ChunkSpan;
import fivenines.model.storage.LegState;
import fivenines.model.storage.LogicalVolume;
import fivenines.model.storage.MirrorStatus;
import fivenines.model.storage.PhysicalVolume;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import static fivenines.block.volume.VolumeEngineTest.ok;
import static fivenines.block.volume.VolumeEngineTest.qemuIo;
import static fivenines.block.volume.VolumeEngineTest.qemuIoWriteback;
import static fivenines.block.volume.VolumeTestCluster.PV0;
import static fivenines.block.volume.VolumeTestCluster.PV1;
import static fivenines.block.volume.VolumeTestCluster.PV2;
import static fivenines.block.volume.VolumeTestCluster.value;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Mirrored volumes behind a real NBD server, written by qemu-io: a leg on n0 (local) and one on n1
 * (over NBD), with n1's disk made to fail or hang, the store made unreachable, and the writer crashed.
 */
class MirrorEngineTest {
    static final long MIB = 1L << 20;
    // the default leg timeout: a shorter one drops a leg that is merely slow on a loaded machine, and the tests that count on
    // a leg staying in the set until its disk fails would see it go earlier
    static final MirrorEngine.Settings FAST = new MirrorEngine.Settings(Duration.ofMillis(100), Duration.ofMillis(2000), 0);
    @TempDir
    Path dir;
    VolumeTestCluster cluster;

    @AfterEach
    void close() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    private void mirror(String name, long size, boolean thin) {
        cluster = cluster == null ? null : cluster;
        value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV0, PV1))));
        value(cluster.apply(new CreateLogicalVolume("vg", name, size, "n0", thin, 1, null)));
    }

    private String pv1Export() {
        synchronized (cluster) {
            return cluster.machine.state().storage().requirePhysicalVolume(PV1).exportName();
        }
    }

    private LogicalVolume volume(String path) {
        synchronized (cluster) {
            return cluster.machine.state().volumes().volume(path).orElseThrow();
        }
    }

    private MirrorStatus status(String path) {
        synchronized (cluster) {
            return cluster.machine.state().volumes().mirrorStatus(volume(path));
        }
    }

    private static String sha(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    private void waitFor(String what, java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting: " + what);
            Thread.sleep(50);
        }
    }

    @Test
    void everyWriteIsOnBothLegsAndReadsBack() throws Exception {
        cluster = new VolumeTestCluster(dir, 64 * MIB);
        mirror("web", 16 * MIB, true);
        cluster.attachMirror("vg", "web", FAST);
        String uri = cluster.uri("vg/web");
        ok(qemuIo(uri, "write -P 0x5a 0 " + 3 * MIB, "write -P 0x17 " + (9 * MIB + 4096) + " 8192", "flush"));
        ok(qemuIo(uri, "read -P 0x5a 0 " + 3 * MIB, "read -P 0x17 " + (9 * MIB + 4096) + " 8192",
            "read -P 0 " + 3 * MIB + " " + MIB));
        byte[] leg0 = cluster.legBytes("vg/web", 0);
        byte[] leg1 = cluster.legBytes("vg/web", 1);
        assertEquals(sha(leg0), sha(leg1), "both legs hold the same bytes");
        assertEquals(0x5a, leg1[(int) (2 * MIB)]);
        assertEquals(0x17, leg1[(int) (9 * MIB + 4096)]);
        assertFalse(volume("vg/web").degraded());
        assertFalse(status("vg/web").active().isEmpty(), "the regions written are open in the activity log");
    }

    @Test
    void aFailingLegLeavesTheSetBeforeTheWriteIsAcknowledgedAndResyncsOnlyWhatItMissed() throws Exception {
        cluster = new VolumeTestCluster(dir, 64 * MIB);
        mirror("web", 32 * MIB, false);
        MirrorEngine engine = cluster.attachMirror("vg", "web", FAST);
        String uri = cluster.uri("vg/web");
        ok(qemuIo(uri, "write -P 0x11 0 " + 16 * MIB, "flush"));
        long epoch = volume("vg/web").epoch();

        cluster.failing.add(pv1Export());
        ok(qemuIo(uri, "write -P 0x22 " + 4 * MIB + " " + 2 * MIB, "flush"));
        LogicalVolume degraded = volume("vg/web");
        assertEquals(LegState.OUT, degraded.leg(1).orElseThrow().state(), "the failed leg left the set");
        assertTrue(degraded.leg(1).orElseThrow().reason().contains("EIO") || degraded.leg(1).orElseThrow().reason().contains("did not answer"), degraded.leg(1).orElseThrow().reason());
        assertTrue(degraded.degraded());
        assertTrue(degraded.epoch() > epoch, "the epoch moved: the leg's block service refuses the old writer");
        ok(qemuIo(uri, "read -P 0x22 " + 4 * MIB + " " + 2 * MIB, "read -P 0x11 0 " + 4 * MIB));
        ok(qemuIo(uri, "write -P 0x33 " + 20 * MIB + " " + MIB, "flush"));
        waitFor("missed chunks recorded", () -> status("vg/web").missedChunks(1) >= 3);

        long before = engine.copiedBytes();
        cluster.failing.remove(pv1Export());
        waitFor("leg 1 back in the set", () -> volume("vg/web").leg(1).orElseThrow().inSync());
        long copied = engine.copiedBytes() - before;
        // it missed chunks 4, 5 (the 2 MiB write), 20 and the open regions when it failed (chunks 4-7): at most 8 MiB
        assertTrue(copied >= 3 * MIB && copied <= 8 * MIB, "copied back only what it missed: " + copied + " bytes");
        assertEquals(sha(cluster.legBytes("vg/web", 0)), sha(cluster.legBytes("vg/web", 1)), "the legs are alike again");
        assertEquals(0, status("vg/web").missedChunks(1));
    }

    @Test
    void aLegWhoseNodeTakesNoConnectionIsNotShownResyncingUntilItAnswersAgain() throws Exception {
        cluster = new VolumeTestCluster(dir, 64 * MIB);
        mirror("web", 16 * MIB, false);
        MirrorEngine engine = cluster.attachMirror("vg", "web", FAST);
        String uri = cluster.uri("vg/web");
        ok(qemuIo(uri, "write -P 0x11 0 " + 4 * MIB, "flush"));
        // the leg's node is killed: its disk fails the request in flight, then it takes no connection
        cluster.failing.add(pv1Export());
        cluster.refusing.add(pv1Export());
        ok(qemuIo(uri, "write -P 0x22 " + MIB + " " + MIB, "flush"));
        assertEquals(LegState.OUT, volume("vg/web").leg(1).orElseThrow().state());
        cluster.failing.remove(pv1Export());
        int before = cluster.commands.size();
        Thread.sleep(7_000); // resyncs are tried after 2 and 4 s
        List<Object> resyncs = cluster.commands.subList(before, cluster.commands.size()).stream()
            .filter(c -> c instanceof fivenines.model.command.StartResync).map(c -> (Object) c).toList();
        assertEquals(List.of(), resyncs, "no resync is committed for a leg nothing can reach");
        assertEquals(LegState.OUT, volume("vg/web").leg(1).orElseThrow().state());

        cluster.refusing.remove(pv1Export());
        waitFor("leg 1 back in the set", () -> volume("vg/web").leg(1).orElseThrow().inSync());
        assertEquals(sha(cluster.legBytes("vg/web", 0)), sha(cluster.legBytes("vg/web", 1)), "the legs are alike again");
        assertTrue(engine.copiedBytes() > 0);
    }

    @Test
    void aLegThatDoesNotAnswerIsDroppedWithinTheLegTimeout() throws Exception {
        cluster = new VolumeTestCluster(dir, 64 * MIB);
        mirror("web", 16 * MIB, true);
        cluster.attachMirror("vg", "web", FAST);
        String uri = cluster.uri("vg/web");
        ok(qemuIo(uri, "write -P 0x11 0 " + MIB, "flush"));
        cluster.hanging.add(pv1Export());
        try {
            long start = System.nanoTime();
            ok(qemuIo(uri, "write -P 0x44 0 4096", "flush"));
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertEquals(LegState.OUT, volume("vg/web").leg(1).orElseThrow().state());
            assertTrue(ms < 10_000, "acknowledged in bounded time, not after the remote timeout: " + ms + " ms");
        } finally {
            cluster.hanging.remove(pv1Export());
        }
    }

    @Test
    void aLegThatKeepsAnsweringThroughALargeWriteStaysInTheSetThoughTheWholeWriteTakesLongerThanTheLegTimeout() throws Exception {
        cluster = new VolumeTestCluster(dir, 64 * MIB);
        mirror("web", 16 * MIB, true);
        cluster.attachMirror("vg", "web", new MirrorEngine.Settings(Duration.ofMillis(100), Duration.ofMillis(1000), 0));
        String uri = cluster.uri("vg/web");
        ok(qemuIo(uri, "write -P 0x11 0 " + MIB, "flush"));
        // each 1 MiB piece answers after 250 ms: 8 MiB take 2 s, twice the leg timeout, and the leg is never silent for 1 s
        cluster.slowMillis.put(pv1Export(), 250L);
        long start = System.nanoTime();
        ok(qemuIo(uri, "write -P 0x5b 0 " + 8 * MIB, "flush"));
        long ms = (System.nanoTime() - start) / 1_000_000;
        cluster.slowMillis.clear();
        assertTrue(ms >= 2000, "the slow leg had the write: " + ms + " ms");
        assertTrue(volume("vg/web").leg(1).orElseThrow().inSync(), "slow, not gone: " + volume("vg/web").leg(1));
        assertEquals(0x5b, cluster.legBytes("vg/web", 1)[(int) (7 * MIB + 5)]);
        assertEquals(sha(cluster.legBytes("vg/web", 0)), sha(cluster.legBytes("vg/web", 1)));
    }

    @Test
    void withoutTheStoreAFailingLegCannotBeDroppedSoTheWriteIsNotAcknowledged() throws Exception {
        cluster = new VolumeTestCluster(dir, 64 * MIB);
        mirror("web", 16 * MIB, true);
        cluster.attachMirror("vg", "web", FAST);
        String uri = cluster.uri("vg/web");
        ok(qemuIo(uri, "write -P 0x11 0 " + MIB, "flush"));
        cluster.unreachable.add(DropLeg.class);
        cluster.failing.add(pv1Export());
        var outcome = qemuIo(uri, "write -P 0x66 0 4096", "flush");
        assertTrue(outcome.exit() != 0 || outcome.out().contains("failed"), "the write fails: " + outcome.out());
        assertTrue(volume("vg/web").leg(1).orElseThrow().inSync(), "the store still counts leg 1 in sync");
        cluster.failing.remove(pv1Export());
        cluster.unreachable.clear();
    }

    @Test
    void aWriterThatCrashedLeavesItsOpenRegionsRepairedByTheNextOne() throws Exception {
        cluster = new VolumeTestCluster(dir, 64 * MIB);
        mirror("web", 16 * MIB, false);
        MirrorEngine engine = cluster.attachMirror("vg", "web", FAST);
        ok(qemuIo(cluster.uri("vg/web"), "write -P 0x11 0 " + 8 * MIB, "flush"));
        List<ChunkSpan> open = status("vg/web").active().get("n0");
        assertTrue(open != null && !open.isEmpty());
        cluster.crash(engine, "node died");
        // half-written: leg 1 holds something else in the first open chunk
        byte[] junk = new byte[4096];
        Arrays.fill(junk, (byte) 0x99);
        var view1 = cluster.machine.state().volumes().view("vg/web", 1);
        var located = view1.locate(open.getFirst().start());
        PhysicalVolume pv = cluster.machine.state().storage().requirePhysicalVolume(located.chunk().physicalVolume());
        cluster.files.get(pv.exportName()).write(located.chunk().offset(), ByteBuffer.wrap(junk), true);
        assertFalse(sha(cluster.legBytes("vg/web", 0)).equals(sha(cluster.legBytes("vg/web", 1))));
        value(cluster.apply(new DetachLogicalVolume("vg", "web", "n0")));
        assertFalse(status("vg/web").repair().isEmpty(), "the crashed writer's open regions are to be repaired");
        MirrorEngine next = cluster.attachMirror("vg", "web", FAST);
        // served at once: what is not repaired yet reads from one leg only
        ok(qemuIo(cluster.uri("vg/web"), "read -P 0x11 0 " + 8 * MIB));
        waitFor("the repair", () -> status("vg/web").repair().isEmpty() && next.repairPending() == 0);
        assertEquals(sha(cluster.legBytes("vg/web", 0)), sha(cluster.legBytes("vg/web", 1)), "repaired in the background");
        ok(qemuIo(cluster.uri("vg/web"), "read -P 0x11 0 " + 8 * MIB));
    }

    @Test
    void aRepairWhoseSourceLegFailsGoesOnFromAnotherLegAndTheFailedLegIsResyncedWithWhatWasNotRepaired() throws Exception {
        // both legs remote, as for a writer that moved to a node without a leg
        MirrorEngine engine = remoteMirror();
        ok(qemuIo(cluster.uri("vg/web"), "write -P 0x11 0 " + 8 * MIB, "flush"));
        assertFalse(status("vg/web").active().getOrDefault("n0", List.of()).isEmpty());
        cluster.crash(engine, "node died");
        value(cluster.apply(new DetachLogicalVolume("vg", "web", "n0")));
        assertFalse(status("vg/web").repair().isEmpty(), "the crashed writer's open regions are to be repaired");
        // the next writer's repair reads from leg 0 (the first in sync, none is local), whose node is now gone
        String leg0 = exportOfLeg(0);
        cluster.failing.add(leg0);
        cluster.refusing.add(leg0);
        MirrorEngine next = cluster.attachMirror("vg", "web", FAST);
        waitFor("the repair", () -> next.repairPending() == 0 && status("vg/web").repair().isEmpty());
        assertEquals(LegState.OUT, volume("vg/web").leg(0).orElseThrow().state(), "the failed source left the set");
        assertTrue(status("vg/web").missedChunks(0) > 0, "and counts the chunks not repaired on it missed");
        ok(qemuIo(cluster.uri("vg/web"), "read -P 0x11 0 " + 8 * MIB, "write -P 0x22 " + MIB + " 4096", "flush"));

        cluster.failing.remove(leg0);
        cluster.refusing.remove(leg0);
        waitFor("leg 0 back in the set", () -> volume("vg/web").leg(0).orElseThrow().inSync());
        assertEquals(sha(cluster.legBytes("vg/web", 0)), sha(cluster.legBytes("vg/web", 1)), "the legs are alike again");
    }

    @Test
    void aReadStartedOnARemoteLegThatHangsTakesTheLegOutAndIsServedFromTheOtherLeg() throws Exception {
        // both legs remote: reads are started on them in turn, no thread waiting for them
        remoteMirror();
        String uri = cluster.uri("vg/web");
        ok(qemuIo(uri, "write -P 0x3c 0 " + 2 * MIB, "flush"));
        String leg0 = exportOfLeg(0);
        cluster.hanging.add(leg0);
        try {
            long start = System.nanoTime();
            ok(qemuIo(uri, "read -P 0x3c 0 4096", "read -P 0x3c 8192 4096", "read -P 0x3c 16384 4096", "read -P 0x3c 65536 4096"));
            long ms = (System.nanoTime() - start) / 1_000_000;
            LogicalVolume degraded = volume("vg/web");
            assertEquals(LegState.OUT, degraded.leg(0).orElseThrow().state(), "the hanging leg left the set");
            assertTrue(degraded.leg(0).orElseThrow().reason().contains("left requests started on it unanswered"),
                "the watch of started reads found it late: " + degraded.leg(0).orElseThrow().reason());
            assertTrue(ms < 10_000, "the reads were answered in bounded time: " + ms + " ms");
            assertTrue(degraded.leg(1).orElseThrow().inSync());
        } finally {
            cluster.hanging.remove(leg0);
        }
    }

    @Test
    void aWriteStartedOnBothLegsWhoseRemotePartHangsTakesTheLegOutBeforeItIsAcknowledged() throws Exception {
        cluster = new VolumeTestCluster(dir, 64 * MIB);
        mirror("web", 16 * MIB, false);
        MirrorEngine engine = cluster.attachMirror("vg", "web", FAST);
        String uri = cluster.uri("vg/web");
        ok(qemuIo(uri, "write -P 0x11 0 " + 4 * MIB, "flush"));
        long before = engine.startedWrites();
        ok(qemuIoWriteback(uri, "write -P 0x21 " + MIB + " 4096", "write -P 0x22 " + (MIB + 65536) + " 4096", "flush"));
        assertEquals(2, engine.startedWrites() - before, "4 KiB writes in place were started on both legs");
        assertTrue(volume("vg/web").leg(1).orElseThrow().inSync());
        assertEquals(0x22, cluster.legBytes("vg/web", 1)[(int) (MIB + 65536)], "the remote leg has it");

        String leg1 = pv1Export();
        cluster.hanging.add(leg1);
        try {
            long start = System.nanoTime();
            ok(qemuIoWriteback(uri, "write -P 0x33 " + 2 * MIB + " 4096"));
            long ms = (System.nanoTime() - start) / 1_000_000;
            LogicalVolume degraded = volume("vg/web");
            assertEquals(LegState.OUT, degraded.leg(1).orElseThrow().state(), "the hanging leg left the set before the ack");
            assertTrue(degraded.leg(1).orElseThrow().reason().contains("left requests started on it unanswered"),
                degraded.leg(1).orElseThrow().reason());
            assertTrue(ms < 10_000, "acknowledged in bounded time: " + ms + " ms");
            assertTrue(status("vg/web").missedChunks(1) >= 1, "the chunk written is counted missed by the leg");
            assertEquals(0x33, cluster.legBytes("vg/web", 0)[(int) (2 * MIB + 5)]);
        } finally {
            cluster.hanging.remove(leg1);
        }
        waitFor("leg 1 back in the set", () -> volume("vg/web").leg(1).orElseThrow().inSync());
        assertEquals(sha(cluster.legBytes("vg/web", 0)), sha(cluster.legBytes("vg/web", 1)), "the legs are alike again");
    }

    /** A thick 16 MiB volume "vg/web" with its two legs on n1 and n2 (none on n0, where it is attached and served). */
    private MirrorEngine remoteMirror() throws Exception {
        cluster = new VolumeTestCluster(dir, 64 * MIB);
        cluster.addPv(dir, PV2, "n2", 64 * MIB);
        value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV1, PV2))));
        value(cluster.apply(new CreateLogicalVolume("vg", "web", 16 * MIB, "n1", false, 1, null)));
        return cluster.attachMirror("vg", "web", FAST);
    }

    /** The export of the PV holding leg {@code leg}'s chunks. */
    private String exportOfLeg(int leg) {
        synchronized (cluster) {
            var pvs = cluster.machine.state().volumes().view("vg/web", leg).physicalVolumes();
            assertEquals(1, pvs.size(), pvs.toString());
            return cluster.machine.state().storage().requirePhysicalVolume(pvs.iterator().next()).exportName();
        }
    }

    @Test
    void aResyncRateSetWhileTheVolumeIsInUseThrottlesTheNextCopy() throws Exception {
        cluster = new VolumeTestCluster(dir, 64 * MIB);
        cluster.addPv(dir, PV2, "n2", 64 * MIB);
        value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV0, PV1, PV2))));
        value(cluster.apply(new CreateLogicalVolume("vg", "web", 8 * MIB, "n0", false, 1, null)));
        MirrorEngine engine = cluster.attachMirror("vg", "web", FAST); // unthrottled when attached
        ok(qemuIo(cluster.uri("vg/web"), "write -P 0x21 0 " + 8 * MIB, "flush"));
        // the operator sets 2 MiB/s: the new leg's 8 MiB take about 4 s, not the moment they take unthrottled
        engine.settings(new MirrorEngine.Settings(FAST.commitInterval(), FAST.legTimeout(), 2 * MIB));
        long start = System.nanoTime();
        value(cluster.apply(new AddLeg("vg", "web", "n2", null, null, null, 1)));
        engine.refresh(null);
        waitFor("the new leg in sync", () -> volume("vg/web").legs().size() == 3 && volume("vg/web").legs().get(2).inSync());
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertTrue(ms >= 3_000, "8 MiB at 2 MiB/s took " + ms + " ms");
        assertEquals(sha(cluster.legBytes("vg/web", 0)), sha(cluster.legBytes("vg/web", 2)));
    }

    @Test
    void aNewLegGetsAFullCopyAndASnapshotOfAMirrorCopiesOnWriteOnEveryLeg() throws Exception {
        cluster = new VolumeTestCluster(dir, 64 * MIB);
        cluster.addPv(dir, PV2, "n2", 64 * MIB);
        value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV0, PV1, PV2))));
        value(cluster.apply(new CreateLogicalVolume("vg", "web", 8 * MIB, "n0", true, 1, null)));
        MirrorEngine engine = cluster.attachMirror("vg", "web", FAST);
        ok(qemuIo(cluster.uri("vg/web"), "write -P 0x21 0 " + 4 * MIB, "flush"));
        engine.quiesced(epoch -> value(cluster.apply(new SnapshotLogicalVolume("vg", "web", "snap", true, epoch))));
        ok(qemuIo(cluster.uri("vg/web"), "write -P 0x42 " + MIB + " 4096", "flush"));
        value(cluster.apply(new AddLeg("vg", "web", "n2", null, null, null, 1)));
        engine.refresh(null);
        waitFor("the new leg in sync", () -> volume("vg/web").legs().size() == 3 && volume("vg/web").legs().get(2).inSync());
        String expected = sha(cluster.legBytes("vg/web", 0));
        assertEquals(expected, sha(cluster.legBytes("vg/web", 1)));
        assertEquals(expected, sha(cluster.legBytes("vg/web", 2)), "the new leg holds a full copy");
        byte[] snap0 = cluster.legBytes("vg/snap", 0);
        assertEquals(sha(snap0), sha(cluster.legBytes("vg/snap", 1)));
        assertEquals(0x21, snap0[(int) MIB], "the snapshot kept the old data on both legs");
        assertEquals(0x42, cluster.legBytes("vg/web", 1)[(int) MIB]);
    }
}
