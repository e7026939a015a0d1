package fivenines.block.aoe;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static fivenines.block.aoe.AoeProtocol.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The initiator against the real target protocol ({@link AoeFrameHandler}) over a link in memory
 * that loses, delays and silences frames: tags in flight, frames per request, resending with
 * backoff, a target that vanishes and comes back.
 */
class AoeInitiatorTest {
    private static final Duration DISCOVERY = Duration.ofSeconds(5);
    private static final AoeInitiator.Settings FAST =
        new AoeInitiator.Settings(Duration.ofMillis(50), Duration.ofMillis(20), Duration.ofMillis(200), Duration.ofSeconds(5));

    private static void inThreads(int threads, ThrowingTask task) throws Exception {
        List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
        List<Thread> started = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int index = t;
            started.add(Thread.ofPlatform().start(() -> {
                try {
                    task.run(index);
                } catch (Throwable e) {
                    failures.add(e);
                }
            }));
        }
        for (Thread t : started) {
            t.join();
        }
        assertEquals(List.of(), failures);
    }

    interface ThrowingTask {
        void run(int index) throws Exception;
    }

    @Test
    void requestsFromManyThreadsKeepTheTargetsBufferCountOfFramesInFlightEachUnderItsOwnTag() throws Exception {
        var link = new MemoryLink(1500, 4, 1, 8, 1 << 20);
        link.delayMillis = 20;
        new Random(1).nextBytes(link.export.data);
        try (var initiator = AoeInitiator.connect(link, 4, 1, DISCOVERY, AoeInitiator.Settings.defaults())) {
            assertEquals(8, initiator.bufferCount());
            assertEquals(2, initiator.sectorsPerFrame());
            inThreads(4, index -> {
                byte[] back = new byte[64 * SECTOR];
                initiator.read(index * 64L, 64, back, 0);
                assertArrayEquals(Arrays.copyOfRange(link.export.data, index * 64 * SECTOR, (index + 1) * 64 * SECTOR), back);
            });
            assertEquals(8, link.maxOutstanding.get(), "as many frames in flight as the target has buffers, no more");
            assertEquals(0, link.tagClashes.get(), "no two frames in flight share a tag");
            assertEquals(0, initiator.stats().resent());
        }
    }

    @Test
    void aLargeRequestIsSplitIntoFramesOfTheSectorCountBothSidesTake() throws Exception {
        var link = new MemoryLink(9000, 4, 1, 16, 1 << 20);
        try (var initiator = AoeInitiator.connect(link, 4, 1, DISCOVERY, AoeInitiator.Settings.defaults())) {
            assertEquals(17, initiator.sectorsPerFrame()); // (9000 - 22) / 512
            byte[] data = new byte[100 * SECTOR];
            new Random(2).nextBytes(data);
            int before = link.ataFrames().size();
            initiator.write(300, 100, data, 0);
            var frames = link.ataFrames().subList(before, link.ataFrames().size());
            assertEquals(List.of(17, 17, 17, 17, 17, 15), frames.stream().map(f -> AoeFrame.ataSectorCount(f.frame())).toList());
            assertEquals(List.of(300L, 317L, 334L, 351L, 368L, 385L), frames.stream().map(f -> AoeFrame.ataLba(f.frame())).toList());
            assertTrue(frames.stream().allMatch(f -> AoeFrame.ataCommand(f.frame()) == ATA_WRITE_SECTORS_EXT));
            assertArrayEquals(data, Arrays.copyOfRange(link.export.data, 300 * SECTOR, 400 * SECTOR));
            byte[] back = new byte[data.length];
            initiator.read(300, 100, back, 0);
            assertArrayEquals(data, back);
        }
    }

    @Test
    void framesLostEitherWayAreSentAgainAndEveryWriteLandsAndReadsBack() throws Exception {
        var link = new MemoryLink(1500, 4, 1, 16, 1 << 20);
        var random = new Random(3);
        try (var initiator = AoeInitiator.connect(link, 4, 1, DISCOVERY, FAST)) {
            link.dropRequest = f -> AoeFrame.command(f) == CMD_ATA && nextBoolean(random, 0.2);
            link.dropReply = f -> AoeFrame.command(f) == CMD_ATA && nextBoolean(random, 0.2);
            byte[] data = new byte[256 << 10];
            new Random(4).nextBytes(data);
            int perThread = data.length / 4 / SECTOR;
            inThreads(4, index -> initiator.write((long) index * perThread, perThread, data, index * perThread * SECTOR));
            assertArrayEquals(data, Arrays.copyOf(link.export.data, data.length));
            byte[] back = new byte[data.length];
            inThreads(4, index -> initiator.read((long) index * perThread, perThread, back, index * perThread * SECTOR));
            assertArrayEquals(data, back);
            var stats = initiator.stats();
            assertTrue(stats.resent() > 50, "about a third of 1024 frames were lost once: " + stats);
            assertEquals(0, stats.timedOut(), stats.toString());
        }
    }

    private static boolean nextBoolean(Random random, double p) {
        synchronized (random) {
            return random.nextDouble() < p;
        }
    }

    @Test
    void aFrameSentAgainWaitsTwiceAsLongEachTimeUpToTheLimitThenTheTargetIsNamedGone() throws Exception {
        var link = new MemoryLink(1500, 4, 1, 16, 1 << 20);
        var settings = new AoeInitiator.Settings(Duration.ofMillis(40), Duration.ofMillis(20), Duration.ofMillis(320),
            Duration.ofMillis(2500));
        try (var initiator = AoeInitiator.connect(link, 4, 1, DISCOVERY, settings)) {
            link.silent = true;
            long start = System.nanoTime();
            var error = assertThrows(IOException.class, () -> initiator.write(0, 1, new byte[SECTOR], 0));
            long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertEquals("AoE target e4.1 on mem0 did not answer for 2500 ms", error.getMessage());
            assertTrue(took >= 2500 && took < 5000, "failed after " + took + " ms");
            var writes = link.ataFrames().stream().filter(f -> AoeFrame.ataCommand(f.frame()) == ATA_WRITE_SECTORS_EXT).toList();
            assertTrue(writes.stream().allMatch(f -> f.tag() == writes.getFirst().tag()), "one frame, sent again under its tag");
            List<Long> gaps = new ArrayList<>();
            for (int i = 1; i < writes.size(); i++) {
                gaps.add(TimeUnit.NANOSECONDS.toMillis(writes.get(i).nanos() - writes.get(i - 1).nanos()));
            }
            // the first time-out follows the measured round trips (tiny here: the least, 20 ms), then doubles to 320 ms
            long[] due = {20, 40, 80, 160, 320, 320};
            for (int i = 0; i < due.length && i < gaps.size(); i++) {
                assertTrue(gaps.get(i) >= due[i] - 2 && gaps.get(i) <= due[i] + 400, "gaps " + gaps);
            }
            assertTrue(gaps.size() >= 7 && gaps.size() <= 14, "sent again every 320 ms once at the limit: " + gaps);
        }
    }

    @Test
    void aVanishedTargetFailsEveryRequestWithinTheDeadlineAndNewOnesAtOnceUntilItAnswersAgainEvenFromAnotherAddress()
        throws Exception {
        var link = new MemoryLink(1500, 4, 1, 16, 4 << 20);
        var settings = FAST.withDeadline(Duration.ofSeconds(2));
        try (var initiator = AoeInitiator.connect(link, 4, 1, DISCOVERY, settings)) {
            initiator.write(0, 8, new byte[8 * SECTOR], 0);
            link.silent = true;
            long start = System.nanoTime();
            // a request of 2048 frames fails as a whole by the deadline, not after one deadline per window of frames
            var large = CompletableFuture.runAsync(() -> {
                try {
                    initiator.write(0, 4096, new byte[4096 * SECTOR], 0);
                    fail("written to a silent target");
                } catch (IOException e) {
                    assertEquals("AoE target e4.1 on mem0 did not answer for 2 s", e.getMessage());
                }
            });
            var small = assertThrows(IOException.class, () -> initiator.read(10, 1, new byte[SECTOR], 0));
            assertEquals("AoE target e4.1 on mem0 did not answer for 2 s", small.getMessage());
            large.get(10, TimeUnit.SECONDS);
            long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(took < 4500, "both failed within " + took + " ms");
            long frames = link.ataFrames().stream().map(MemoryLink.Sent::tag).distinct().count();
            assertTrue(frames <= 16 + 4 + 1 + 1, "the rest of the large request was never sent: " + frames + " frames");
            assertEquals("AoE target e4.1 on mem0 did not answer for 2 s", initiator.gone().orElseThrow());

            long at = System.nanoTime();
            var again = assertThrows(IOException.class, () -> initiator.write(0, 1, new byte[SECTOR], 0));
            assertEquals("AoE target e4.1 on mem0 did not answer for 2 s", again.getMessage());
            assertTrue(System.nanoTime() - at < TimeUnit.MILLISECONDS.toNanos(100), "refused at once while gone");

            // back, on another MAC address: found by the Query Config broadcast sent while it is gone
            var moved = MacAddress.parse("02:00:00:00:00:bb");
            link.moveTarget(moved);
            link.silent = false;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (initiator.gone().isPresent() && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertTrue(initiator.gone().isEmpty(), "the target answered again");
            assertEquals(moved, initiator.target());
            byte[] data = new byte[4 * SECTOR];
            Arrays.fill(data, (byte) 7);
            initiator.write(20, 4, data, 0);
            assertArrayEquals(data, Arrays.copyOfRange(link.export.data, 20 * SECTOR, 24 * SECTOR));
        }
    }

    @Test
    void answersForAnotherSlotOfTheSameHostAreNotTakenForOurs() throws Exception {
        var link = new MemoryLink(1500, 4, 1, 16, 1 << 20);
        new Random(5).nextBytes(link.export.data);
        link.neighbour = true;
        try (var initiator = AoeInitiator.connect(link, 4, 1, DISCOVERY, AoeInitiator.Settings.defaults())) {
            byte[] back = new byte[32 * SECTOR];
            initiator.read(0, 32, back, 0);
            assertArrayEquals(Arrays.copyOf(link.export.data, back.length), back);
        }
    }

    @Test
    void flushSendsFlushCacheExtAndAnAtaErrorNamesTheTarget() throws Exception {
        var link = new MemoryLink(1500, 4, 1, 16, 1 << 20);
        try (var initiator = AoeInitiator.connect(link, 4, 1, DISCOVERY, AoeInitiator.Settings.defaults())) {
            int before = link.export.flushes.get();
            initiator.flush();
            assertEquals(before + 1, link.export.flushes.get());
            assertEquals(ATA_FLUSH_CACHE_EXT, AoeFrame.ataCommand(link.ataFrames().getLast().frame()));
            link.export.failFlush = true;
            var error = assertThrows(IOException.class, initiator::flush);
            assertTrue(error.getMessage().startsWith("AoE target e4.1 on mem0: ATA status 41"), error.getMessage());
            var past = assertThrows(IOException.class, () -> initiator.read(2048, 1, new byte[SECTOR], 0));
            assertEquals("AoE target e4.1 on mem0: ATA status 41 error 10", past.getMessage());
        }
    }

    @Test
    void noTargetAnsweringDiscoveryIsAClearError() {
        var link = new MemoryLink(1500, 4, 1, 16, 1 << 20);
        var error = assertThrows(IOException.class,
            () -> AoeInitiator.connect(link, 4, 2, Duration.ofMillis(600), AoeInitiator.Settings.defaults()));
        assertEquals("no AoE target e4.2 answered on mem0 within 600 ms", error.getMessage());
    }
}
