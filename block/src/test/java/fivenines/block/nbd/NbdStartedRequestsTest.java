package fivenines.block.nbd;

import fivenines.block.export.BlockExport;
import fivenines.block.export.Extent;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static fivenines.block.nbd.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Requests an export starts without a thread waiting for them (a remote leg's): the reply leaves
 * from whatever completes the start, in completion order, and a start that fails is served again
 * through the export's waited-for call.
 */
class NbdStartedRequestsTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    /** Reads are started and held until the test completes them; waited-for reads fill 0x5A and are counted. */
    private static final class HeldStarts implements BlockExport {
        final ConcurrentHashMap<Long, CompletableFuture<Void>> started = new ConcurrentHashMap<>();
        final ConcurrentHashMap<Long, ByteBuffer> targets = new ConcurrentHashMap<>();
        final AtomicInteger waitedFor = new AtomicInteger();
        volatile boolean failStarts;

        public String name() {
            return "held";
        }

        public long size() {
            return 1 << 20;
        }

        public boolean readOnly() {
            return false;
        }

        @Override
        public CompletableFuture<Void> startRead(long offset, ByteBuffer target) {
            if (failStarts) {
                return CompletableFuture.failedFuture(new NbdErrorException(ESHUTDOWN, "an old epoch"));
            }
            var future = new CompletableFuture<Void>();
            targets.put(offset, target);
            started.put(offset, future);
            return future;
        }

        public void read(long offset, ByteBuffer target) {
            waitedFor.incrementAndGet();
            while (target.hasRemaining()) {
                target.put((byte) 0x5A);
            }
        }

        public void write(long offset, ByteBuffer source, boolean fua) {
            source.position(source.limit());
        }

        public void flush() {
        }

        public void trim(long offset, long length) {
        }

        public void writeZeroes(long offset, long length, boolean noHole, boolean fua) {
        }

        public List<Extent> blockStatus(long offset, long length) {
            return List.of(new Extent(length, false, false));
        }
    }

    private static void awaitStarted(HeldStarts export, int count) throws InterruptedException {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (export.started.size() < count && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(5);
        }
        assertEquals(count, export.started.size(), "every read was started");
    }

    @Test
    void startedReadsAreAnsweredWhenCompletedInTheirOrderAndNoThreadWaitsForThem() throws Exception {
        var export = new HeldStarts();
        var registry = new fivenines.block.export.ExportRegistry();
        registry.add(export);
        try (var server = new NbdServer(NbdServer.Config.builder().tcp("127.0.0.1", 0).build(), registry)) {
            server.start();
            try (var client = NbdRawClient.connect(server, TIMEOUT)) {
                client.greet();
                client.go("held");
                // one at a time: the first is started although nothing else is in flight (served in place before)
                client.request(CMD_READ, 1, 0, 4096);
                client.out().flush();
                awaitStarted(export, 1);
                client.request(CMD_READ, 2, 4096, 4096);
                client.out().flush();
                awaitStarted(export, 2); // the reader was not held by the first
                // completed by another thread, the second first
                for (long offset : new long[] {4096, 0}) {
                    ByteBuffer target = export.targets.get(offset);
                    byte fill = (byte) (offset == 0 ? 1 : 2);
                    Thread.ofPlatform().start(() -> {
                        while (target.hasRemaining()) {
                            target.put(fill);
                        }
                        export.started.get(offset).complete(null);
                    }).join();
                    long cookie = offset == 0 ? 1 : 2;
                    assertEquals(SIMPLE_REPLY_MAGIC, client.in().readInt());
                    assertEquals(0, client.in().readInt());
                    assertEquals(cookie, client.in().readLong(), "replies leave in completion order");
                    byte[] expected = new byte[4096];
                    java.util.Arrays.fill(expected, fill);
                    assertArrayEquals(expected, client.in().readNBytes(4096));
                }
                assertEquals(0, export.waitedFor.get(), "no read was served the waited-for way");
            }
        }
    }

    @Test
    void aStartThatFailsIsServedAgainTheWaitedForWay() throws Exception {
        var export = new HeldStarts();
        export.failStarts = true;
        var registry = new fivenines.block.export.ExportRegistry();
        registry.add(export);
        try (var server = new NbdServer(NbdServer.Config.builder().tcp("127.0.0.1", 0).build(), registry)) {
            server.start();
            try (var client = NbdRawClient.connect(server, TIMEOUT)) {
                client.greet();
                client.go("held");
                client.request(CMD_READ, 7, 8192, 4096);
                client.out().flush();
                assertEquals(SIMPLE_REPLY_MAGIC, client.in().readInt());
                assertEquals(0, client.in().readInt(), "the failed start is not the request's outcome");
                assertEquals(7, client.in().readLong());
                byte[] expected = new byte[4096];
                java.util.Arrays.fill(expected, (byte) 0x5A);
                assertArrayEquals(expected, client.in().readNBytes(4096));
                assertEquals(1, export.waitedFor.get());
                assertTrue(export.started.isEmpty());
            }
        }
    }
}
