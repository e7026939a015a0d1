package fivenines.block.nbd;

import fivenines.block.export.BlockExport;
import fivenines.block.export.Extent;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static fivenines.block.nbd.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Requests of one connection run side by side: a slow one holds back no other. */
class NbdConcurrencyTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    /**
     * Like a mirrored volume whose first block lives on a slow remote leg: a request touching
     * offset 0 waits until the test lets it go, every other one is served from memory.
     */
    private record SlowFirstBlock(CountDownLatch release) implements BlockExport {
        public String name() {
            return "slow";
        }

        public long size() {
            return 1 << 20;
        }

        public boolean readOnly() {
            return false;
        }

        private void waitIfFirstBlock(long offset) throws java.io.IOException {
            if (offset < 4096) {
                try {
                    if (!release.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                        throw new java.io.IOException("never released");
                    }
                } catch (InterruptedException e) {
                    throw new java.io.IOException(e);
                }
            }
        }

        public void read(long offset, ByteBuffer target) throws java.io.IOException {
            waitIfFirstBlock(offset);
            target.position(target.limit());
        }

        public void write(long offset, ByteBuffer source, boolean fua) throws java.io.IOException {
            waitIfFirstBlock(offset);
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

    private static void assertTheSlowRequestDoesNotHoldBackTheOthers(int slowType) throws Exception {
        var release = new CountDownLatch(1);
        var registry = new fivenines.block.export.ExportRegistry();
        registry.add(new SlowFirstBlock(release));
        try (var server = new NbdServer(NbdServer.Config.builder().tcp("127.0.0.1", 0).build(), registry);
             var client = startAndConnect(server)) {
            client.greet();
            client.go("slow");
            // one burst: the slow request first, then fast ones behind it
            client.request(slowType, 1, 0, 4096);
            if (slowType == CMD_WRITE) {
                client.out().write(new byte[4096]);
            }
            for (int cookie = 2; cookie <= 9; cookie++) {
                client.request(CMD_READ, cookie, cookie * 4096L, 4096);
            }
            client.out().flush();
            var answered = new ArrayList<Long>();
            for (int i = 0; i < 8; i++) {
                assertEquals(SIMPLE_REPLY_MAGIC, client.in().readInt(), "the fast requests are answered while the slow one waits");
                assertEquals(0, client.in().readInt());
                answered.add(client.in().readLong());
                client.in().readNBytes(4096);
            }
            assertEquals(List.of(2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L), answered.stream().sorted().toList());
            release.countDown();
            assertEquals(0, client.simpleReply(1), "and the slow one completes afterwards");
        }
    }

    private static NbdRawClient startAndConnect(NbdServer server) throws java.io.IOException {
        server.start();
        return NbdRawClient.connect(server, TIMEOUT);
    }

    @Test
    void aSlowReadDoesNotHoldBackTheRequestsBehindIt() throws Exception {
        assertTheSlowRequestDoesNotHoldBackTheOthers(CMD_READ);
    }

    @Test
    void aSlowWriteDoesNotHoldBackTheRequestsBehindIt() throws Exception {
        assertTheSlowRequestDoesNotHoldBackTheOthers(CMD_WRITE);
    }
}
