package fivenines.block.aoe;

import fivenines.block.export.FileExport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static fivenines.block.aoe.AoeFrame.*;
import static fivenines.block.aoe.AoeProtocol.*;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The target on real packet sockets over veth pairs: Debian's aoeping (aoetools) against it from
 * another network namespace, our initiator against it and against Debian's vblade, the
 * start-up announcement, jumbo frames. Needs root and iproute2 (skipped otherwise).
 */
class AoeInteropTest {
    static final long SIZE = 16L << 20;
    @TempDir
    Path dir;

    @BeforeAll
    static void needsRoot() {
        assumeTrue(Veth.available(), "needs root and iproute2 for veth pairs and namespaces");
    }

    static boolean installed(String tool) {
        return Files.isExecutable(Path.of("/usr/sbin", tool)) || Files.isExecutable(Path.of("/usr/bin", tool));
    }

    Path disk(String name) throws IOException {
        Path file = dir.resolve(name);
        try (var channel = FileChannel.open(file, java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)) {
            channel.truncate(SIZE);
            channel.write(ByteBuffer.wrap(new byte[] {0}), SIZE - 1);
        }
        return file;
    }

    static byte[] read(Path file, long offset, int length) throws IOException {
        byte[] out = new byte[length];
        try (var channel = FileChannel.open(file)) {
            channel.read(ByteBuffer.wrap(out), offset);
        }
        return out;
    }

    @Test
    void aoepingFindsTheTargetAndReadsItsIdentity() throws Exception {
        assumeTrue(installed("aoeping"), "aoeping (Debian's aoetools) is not installed");
        Path file = disk("disk.img");
        try (var veth = Veth.create(true, 1500);
             var export = FileExport.wholeFile("disk", file, false);
             var target = AoeTarget.start(new AoeTarget.Config(veth.here, 12, 3), () -> export)) {
            String out = Veth.run(veth.inNamespace("timeout", "20", "aoeping", "-s", "10", "-v", "-I", "12", "3", veth.there));
            assertTrue(out.contains("found e12.3 with mac " + target.mac().toString().replace(":", "")), out);
            assertTrue(out.contains("fivenines disk"), "the model is printed: " + out);
            String raw = Veth.run(veth.inNamespace("timeout", "20", "aoeping", "-s", "10", "-i", "12", "3", veth.there));
            // words 100-103 of the identify dump: 32768 sectors = 0x8000, little-endian "00 80"
            assertTrue(raw.replace("\n", " ").contains("00 80 00 00 00 00 00 00"), raw);
            // the wrong shelf is not answered: aoeping times out
            var process = new ProcessBuilder(veth.inNamespace("aoeping", "-s", "2", "12", "4", veth.there)).redirectErrorStream(true).start();
            assertTrue(process.waitFor(20, TimeUnit.SECONDS));
            assertNotEquals(0, process.exitValue(), "no answer for e12.4");
            assertTrue(target.stats().dropped() >= 1);
        }
    }

    @Test
    void theTargetAnnouncesItselfAtStartUp() throws Exception {
        Path file = disk("disk.img");
        try (var veth = Veth.create(false, 1500);
             var listener = RawSocket.open(veth.there, ETHER_TYPE, 200, 1 << 20);
             var export = FileExport.wholeFile("disk", file, false);
             var target = AoeTarget.start(new AoeTarget.Config(veth.here, 5, 6), () -> export)) {
            byte[] in = new byte[2000];
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            int n = -1;
            while (System.nanoTime() < deadline && (n = listener.receive(in)) < 0) {
                // wait
            }
            assertEquals(MIN_FRAME, n, "the announcement, padded to 60 bytes");
            assertEquals(MacAddress.BROADCAST, destination(in));
            assertEquals(target.mac(), source(in));
            assertTrue(isResponse(in));
            assertEquals(CMD_QUERY_CONFIG, command(in));
            assertEquals(5, shelf(in));
            assertEquals(6, slot(in));
            assertEquals(2, configSectorCount(in));
        }
    }

    @Test
    void ourInitiatorWritesThroughJumboFramesAndTheFileHasEachWriteBeforeItsAcknowledgement() throws Exception {
        Path file = disk("disk.img");
        try (var veth = Veth.create(false, 9000);
             var export = FileExport.wholeFile("disk", file, false);
             var target = AoeTarget.start(new AoeTarget.Config(veth.here, 1, 1), () -> export);
             var initiator = AoeInitiator.connect(veth.there, 1, 1, Duration.ofSeconds(5))) {
            assertEquals(17, initiator.sectorsPerFrame());
            assertEquals(SIZE / 512, initiator.sectors());
            var random = new Random(11);
            List<Thread> writers = new ArrayList<>();
            List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            for (int t = 0; t < 8; t++) {
                int index = t;
                writers.add(Thread.ofPlatform().start(() -> {
                    try {
                        byte[] data = new byte[64 * 1024];
                        java.util.Arrays.fill(data, (byte) (index + 1));
                        long lba = index * 2048L;
                        for (int i = 0; i < 8; i++) {
                            initiator.write(lba + i * 128L, 128, data, 0);
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            for (Thread w : writers) {
                w.join();
            }
            assertEquals(List.of(), failures);
            for (int t = 0; t < 8; t++) {
                byte[] stored = read(file, t * 2048L * 512, 8 * 64 * 1024);
                for (byte b : stored) {
                    assertEquals((byte) (t + 1), b);
                }
                byte[] back = new byte[8 * 64 * 1024];
                initiator.read(t * 2048L, 8 * 128, back, 0);
                assertArrayEquals(stored, back);
            }
            var stats = target.stats();
            assertTrue(stats.flushes() >= 1 && stats.flushes() <= stats.writes(), stats.toString());
            // a file answers from memory: its reads (and queries) are served on the reader thread, its writes by workers
            assertEquals(stats.framesIn() - stats.writes(), stats.servedInline(), stats.toString());
            // past the end: an ATA error, named
            var error = assertThrows(IOException.class, () -> initiator.read(SIZE / 512 - 1, 2, new byte[1024], 0));
            assertTrue(error.getMessage().contains("ATA status 41 error 10"), error.getMessage());
            byte[] random4k = new byte[4096];
            random.nextBytes(random4k);
            initiator.write(77, 8, random4k, 0);
            assertArrayEquals(random4k, read(file, 77 * 512, 4096));
        }
    }

    @Test
    void ourInitiatorAgainstVblade() throws Exception {
        assumeTrue(installed("vblade"), "vblade is not installed");
        Path file = disk("vblade.img");
        try (var veth = Veth.create(true, 1500)) {
            var vblade = new ProcessBuilder(veth.inNamespace("vblade", "-s", "9", "2", veth.there, file.toString()))
                .redirectErrorStream(true).redirectOutput(dir.resolve("vblade.log").toFile()).start();
            try (var initiator = AoeInitiator.connect(veth.here, 9, 2, Duration.ofSeconds(10))) {
                assertEquals(SIZE / 512, initiator.sectors());
                byte[] data = new byte[32 * 512];
                new Random(3).nextBytes(data);
                initiator.write(1000, 32, data, 0);
                assertArrayEquals(data, read(file, 1000 * 512, data.length));
                byte[] back = new byte[data.length];
                initiator.read(1000, 32, back, 0);
                assertArrayEquals(data, back);
            } finally {
                vblade.destroy();
                vblade.waitFor(5, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void anAoeDeviceOverVbladeTakesALabelAndPartialSectorsAndFailsClearlyOnceVbladeIsKilled() throws Exception {
        assumeTrue(installed("vblade"), "vblade is not installed");
        Path file = disk("vblade.img");
        try (var veth = Veth.create(true, 1500)) {
            var vblade = new ProcessBuilder(veth.inNamespace("vblade", "9", "3", veth.there, file.toString()))
                .redirectErrorStream(true).redirectOutput(dir.resolve("vblade.log").toFile()).start();
            var settings = AoeInitiator.Settings.defaults().withDeadline(Duration.ofSeconds(3));
            try (var device = AoeDevice.whole("vblade", AoeInitiator.connect(veth.here, 9, 3, Duration.ofSeconds(10), settings))) {
                var label = fivenines.block.pv.PhysicalVolumeDevice.prepare(device, "aoe:e9.3@" + veth.here, 1 << 20, null);
                assertEquals(label, fivenines.block.pv.PhysicalVolumeLabel.read(file).orElseThrow(), "the label is in vblade's file");
                byte[] data = new byte[3000];
                new Random(9).nextBytes(data);
                device.write((2 << 20) + 100, ByteBuffer.wrap(data), true);
                assertArrayEquals(data, read(file, (2 << 20) + 100, data.length));
                assertArrayEquals(new byte[100], read(file, 2 << 20, 100), "the bytes before it in its first sector are kept");
                device.flush(); // vblade takes FLUSH CACHE EXT (or its plain form)

                vblade.destroy();
                assertTrue(vblade.waitFor(5, TimeUnit.SECONDS));
                long start = System.nanoTime();
                var error = assertThrows(IOException.class, () -> device.write(0, ByteBuffer.wrap(new byte[4096]), false));
                long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertEquals("AoE target e9.3 on " + veth.here + " did not answer for 3 s", error.getMessage());
                assertTrue(took >= 3000 && took < 5000, took + " ms");
                assertEquals(label, fivenines.block.pv.PhysicalVolumeLabel.read(file).orElseThrow(), "nothing was written");
            } finally {
                vblade.destroy();
                vblade.waitFor(5, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void aWriteWhoseFlushFailsIsAnsweredWithAnError() throws Exception {
        var export = new MemoryExport(1 << 20, false);
        export.failFlush = true;
        try (var veth = Veth.create(false, 1500);
             var target = AoeTarget.start(new AoeTarget.Config(veth.here, 2, 2), () -> export);
             var initiator = AoeInitiator.connect(veth.there, 2, 2, Duration.ofSeconds(5))) {
            var error = assertThrows(IOException.class, () -> initiator.write(0, 2, new byte[1024], 0));
            assertTrue(error.getMessage().contains("ATA status 41 error 04"), error.getMessage());
            export.failFlush = false;
            initiator.write(0, 2, new byte[1024], 0);
            assertTrue(target.stats().failedFlushes() >= 1);
        }
    }

    @Test
    void everyAcknowledgedWriteWasCoveredByAFlushThatBeganAfterIt() throws Exception {
        assertEquals(List.of(), acknowledgedBeforeAFlush(true, 8, false));
    }

    @Test
    void aWriteAloneIsWrittenThroughAndAnsweredOnTheReaderAndIsDurableWhenAcknowledged() throws Exception {
        // one writer, from an export that answers from memory: each write arrives with nothing else in flight
        assertEquals(List.of(), acknowledgedBeforeAFlush(true, 1, true));
    }

    @Test
    void withoutTheFlushBeforeReplyAcknowledgedWritesAreNotDurable() throws Exception {
        // the check above can fail: a target that acknowledges from the page cache fails it on every write
        assertEquals(320, acknowledgedBeforeAFlush(false, 8, false).size());
    }

    private List<Throwable> acknowledgedBeforeAFlush(boolean flushBeforeReply, int writerCount, boolean fromMemory) throws Exception {
        var memory = new MemoryExport(4 << 20, false);
        var unflushed = new java.util.HashSet<Long>();
        var durable = java.util.concurrent.ConcurrentHashMap.<Long>newKeySet();
        var export = new fivenines.block.export.BlockExport() {
            public String name() { return "tracked"; }
            public long size() { return memory.size(); }
            public boolean readOnly() { return false; }
            public boolean servesFromMemory() { return fromMemory; }
            public void read(long offset, ByteBuffer target) { memory.read(offset, target); }
            public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
                memory.write(offset, source, fua);
                if (fua) {
                    durable.add(offset); // written through: stable when this returns
                    return;
                }
                synchronized (unflushed) {
                    unflushed.add(offset);
                }
            }
            public void flush() throws IOException {
                List<Long> covered;
                synchronized (unflushed) {
                    covered = List.copyOf(unflushed);
                    unflushed.clear();
                }
                memory.flush();
                durable.addAll(covered);
            }
            public void trim(long offset, long length) { }
            public void writeZeroes(long offset, long length, boolean noHole, boolean fua) { }
            public List<fivenines.block.export.Extent> blockStatus(long offset, long length) { return List.of(); }
        };
        try (var veth = Veth.create(false, 1500);
             var target = AoeTarget.start(new AoeTarget.Config(veth.here, 3, 3, 64, 4, flushBeforeReply, AoeTarget.DEFAULT_POLL_MICROS), () -> export);
             var initiator = AoeInitiator.connect(veth.there, 3, 3, Duration.ofSeconds(5))) {
            List<Thread> writers = new ArrayList<>();
            List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            for (int t = 0; t < writerCount; t++) {
                int index = t;
                writers.add(Thread.ofPlatform().start(() -> {
                    try {
                        for (int i = 0; i < 320 / writerCount; i++) {
                            long lba = (index * 40L + i) * 2;
                            initiator.write(lba, 2, new byte[1024], 0);
                            if (!durable.contains(lba * 512)) {
                                failures.add(new AssertionError("write at LBA " + lba + " acknowledged before a flush covered it"));
                            }
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            for (Thread w : writers) {
                w.join();
            }
            var stats = target.stats();
            assertTrue(stats.writes() >= 320, stats.toString()); // a retransmitted write is done again
            if (fromMemory) {
                // written on the reader (a retransmission after a lost reply may go to a worker)
                assertTrue(stats.writesInline() >= 300, "writes alone are served on the reader: " + stats);
                // with FUA: no flush is needed for them (a retransmitted write may still go to the committer)
                assertTrue(stats.flushes() <= stats.writes() - stats.writesInline(), "writes alone are written through: " + stats);
            } else {
                assertEquals(0, stats.writesInline(), stats.toString());
            }
            if (flushBeforeReply && writerCount > 1) {
                System.out.println("320 writes from " + writerCount + " writers, " + stats.flushes() + " flushes");
                assertTrue(stats.flushes() < stats.writes(), "flushes are shared by the writes in flight: " + stats);
            }
            return failures;
        }
    }
}
