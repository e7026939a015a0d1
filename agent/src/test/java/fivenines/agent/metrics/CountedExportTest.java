package fivenines.agent.metrics;

import fivenines.block.export.BlockExport;
import fivenines.block.export.FileExport;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class CountedExportTest {
    @TempDir
    Path dir;

    @Test
    void everyRequestIsCountedWithItsBytesAndLatencyAndFailuresApart() throws IOException {
        Path file = dir.resolve("disk.img");
        Files.write(file, new byte[1 << 20]);
        try (var disk = FileExport.wholeFile("disk", file, false)) {
            var io = new VolumeIo();
            var counted = new CountedExport(disk, io);
            counted.write(0, ByteBuffer.allocate(4096), false);
            counted.write(8192, ByteBuffer.allocate(512), true);
            counted.read(0, ByteBuffer.allocate(65536));
            counted.flush();
            counted.writeZeroes(0, 1000, false, false);
            counted.trim(4096, 4096);
            assertEquals(4608, io.bytes(VolumeIo.Op.WRITE));
            assertEquals(2, io.requests(VolumeIo.Op.WRITE));
            assertEquals(65536, io.bytes(VolumeIo.Op.READ));
            assertEquals(1, io.requests(VolumeIo.Op.READ));
            assertEquals(1, io.requests(VolumeIo.Op.FLUSH));
            assertEquals(1000, io.bytes(VolumeIo.Op.ZERO));
            assertEquals(4096, io.bytes(VolumeIo.Op.TRIM));
            assertEquals(2, io.latency[VolumeIo.Op.WRITE.ordinal()].count());
            assertEquals(0, io.errors(VolumeIo.Op.WRITE));
        }
    }

    @Test
    void aFailedRequestCountsAsAnErrorNotAsBytesAndReachesTheClientAsItWas() {
        var io = new VolumeIo();
        BlockExport failing = (BlockExport) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[]{BlockExport.class},
            (proxy, method, args) -> {
                if (method.getName().equals("write")) {
                    throw new NbdErrorException(NbdProtocol.ENOSPC, "full");
                }
                return null;
            });
        var counted = new CountedExport(failing, io);
        var e = assertThrows(NbdErrorException.class, () -> counted.write(0, ByteBuffer.allocate(4096), false));
        assertEquals(NbdProtocol.ENOSPC, e.errno());
        assertEquals(0, io.bytes(VolumeIo.Op.WRITE));
        assertEquals(0, io.requests(VolumeIo.Op.WRITE));
        assertEquals(1, io.errors(VolumeIo.Op.WRITE));
        assertEquals(1, io.latency[VolumeIo.Op.WRITE.ordinal()].count());
    }

    @Test
    void latenciesFallInTheFirstBucketWhoseBoundTheyDoNotExceedAndPastTheLastInInf() {
        var histogram = new LatencyHistogram();
        histogram.record(50_000);        // exactly 50 µs: le="5e-05"
        histogram.record(50_001);        // just over: le="0.0001"
        histogram.record(-5);            // a clock step backwards counts as 0
        histogram.record(60_000_000_000L); // a minute: +Inf only
        var point = histogram.snapshot(io.prometheus.metrics.model.snapshots.Labels.EMPTY);
        var buckets = point.getClassicBuckets();
        assertEquals(2, buckets.getCount(0));
        assertEquals(1, buckets.getCount(1));
        assertEquals(Double.POSITIVE_INFINITY, buckets.getUpperBound(buckets.size() - 1));
        assertEquals(1, buckets.getCount(buckets.size() - 1));
        assertEquals(4, histogram.count());
        assertEquals(60.000100001, point.getSum(), 1e-9);
    }
}
