package fivenines.block.nbd;

import fivenines.block.export.BlockExport;
import fivenines.block.export.ExportRegistry;
import fivenines.block.export.Extent;
import fivenines.block.export.FileExport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** FUA writes and flushes reach the export as durable operations before they are acknowledged. */
class NbdDurabilityTest {
    @TempDir
    Path dir;

    /** Counts what reaches the file: FUA writes and flushes, in the order acknowledged. */
    static final class CountingExport implements BlockExport {
        final FileExport file;
        final AtomicInteger fuaWrites = new AtomicInteger();
        final AtomicInteger plainWrites = new AtomicInteger();
        final AtomicInteger flushes = new AtomicInteger();

        CountingExport(FileExport file) {
            this.file = file;
        }

        public String name() {
            return "counted";
        }

        public long size() {
            return file.size();
        }

        public boolean readOnly() {
            return false;
        }

        public void read(long offset, ByteBuffer target) throws IOException {
            file.read(offset, target);
        }

        public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
            (fua ? fuaWrites : plainWrites).incrementAndGet();
            file.write(offset, source, fua);
        }

        public void flush() throws IOException {
            flushes.incrementAndGet();
            file.flush();
        }

        public void trim(long offset, long length) throws IOException {
            file.trim(offset, length);
        }

        public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
            file.writeZeroes(offset, length, noHole, fua);
        }

        public List<Extent> blockStatus(long offset, long length) throws IOException {
            return file.blockStatus(offset, length);
        }
    }

    @Test
    void fuaAndFlushReachTheExport() throws Exception {
        Path disk = NbdTestServer.sparseFile(dir, "disk.img", 16L << 20);
        var counting = new CountingExport(FileExport.wholeFile("file", disk, false));
        var registry = new ExportRegistry();
        registry.add(counting);
        try (var server = new NbdServer(NbdServer.Config.tcpAndUnix("127.0.0.1", 0, null), registry)) {
            server.start();
            String uri = "nbd://127.0.0.1:" + server.tcpPort() + "/counted";
            NbdTestServer.runOk("qemu-io", "-f", "raw", "-t", "none", "-c", "write -f -P 0x10 0 4k", "-c", "write -P 0x11 4k 4k",
                "-c", "flush", uri);
            assertEquals(1, counting.fuaWrites.get(), "write -f is sent with FUA");
            assertEquals(1, counting.plainWrites.get());
            org.junit.jupiter.api.Assertions.assertTrue(counting.flushes.get() >= 1, "flush reached the export");
        }
        counting.file.close();
    }
}
