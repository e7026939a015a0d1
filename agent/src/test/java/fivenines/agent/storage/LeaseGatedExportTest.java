package fivenines.agent.storage;

import fivenines.block.export.FileExport;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.model.config.LeaseSettings;
import fivenines.manager.lease.NodeLease;
import fivenines.manager.lease.WriteGate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Invariant 3 at the engine's door: a node whose lease stopped acknowledges no write, zeroing, trim
 * or flush, before its lease ends (it stops serving {@code stop_ahead} before), on a simulated clock.
 */
class LeaseGatedExportTest {
    /** A clock the test moves by hand. */
    static final class ManualClock implements InstantSource {
        Instant now = Instant.parse("2026-12-01T12:00:00Z");

        @Override
        public Instant instant() {
            return now;
        }

        void advance(long millis) {
            now = now.plusMillis(millis);
        }
    }

    private static byte[] filled(byte value) {
        byte[] b = new byte[4096];
        Arrays.fill(b, value);
        return b;
    }

    @Test
    void writesAreAcknowledgedOnlyWhileTheLeaseIsHeld(@TempDir Path dir) throws Exception {
        var clock = new ManualClock();
        var lease = new NodeLease(clock, LeaseSettings.DEFAULTS);
        Path file = dir.resolve("volume");
        Files.write(file, new byte[1 << 20]);
        try (var volume = FileExport.wholeFile("vg/web", file, false)) {
            var gated = new LeaseGatedExport(volume, WriteGate.of(lease));
            assertThrows(NbdErrorException.class, () -> gated.write(0, ByteBuffer.wrap(filled((byte) 9)), true),
                "no lease yet: nothing is acknowledged");

            lease.renewed(clock.instant());
            gated.write(0, ByteBuffer.wrap(filled((byte) 1)), true);
            gated.flush();
            // the node serves lease_millis - stop_ahead_millis after the renewal was sent
            clock.advance(LeaseSettings.DEFAULTS.serveFor().toMillis() - 1);
            gated.write(0, ByteBuffer.wrap(filled((byte) 2)), true);
            clock.advance(1);
            var refused = assertThrows(NbdErrorException.class, () -> gated.write(0, ByteBuffer.wrap(filled((byte) 3)), true));
            assertEquals(NbdProtocol.ESHUTDOWN, refused.errno());
            assertTrue(refused.getMessage().contains("vg/web") && refused.getMessage().contains("no lease"), refused.getMessage());
            assertThrows(NbdErrorException.class, gated::flush);
            assertThrows(NbdErrorException.class, () -> gated.writeZeroes(0, 4096, false, true));
            assertThrows(NbdErrorException.class, () -> gated.trim(0, 4096));
            assertArrayEquals(filled((byte) 2), Arrays.copyOf(Files.readAllBytes(file), 4096), "refused before the volume");
            var read = ByteBuffer.allocate(4096);
            gated.read(0, read);
            assertArrayEquals(filled((byte) 2), read.array(), "reads go on");
            assertTrue(clock.instant().isBefore(lease.stopBy().plus(LeaseSettings.DEFAULTS.stopAhead())),
                "refused before the lease itself ends");

            lease.renewed(clock.instant());
            gated.write(0, ByteBuffer.wrap(filled((byte) 4)), true);
            lease.revoked("node is declared down");
            assertTrue(assertThrows(NbdErrorException.class, () -> gated.write(0, ByteBuffer.wrap(filled((byte) 5)), true))
                .getMessage().contains("declared down"));
        }
    }

    @Test
    void aWriteUnderWayWhenTheLeaseStopsIsNotAcknowledged(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("volume");
        Files.write(file, new byte[1 << 20]);
        var asked = new AtomicInteger();
        // open when the write arrives, closed by the time it is done
        WriteGate stopsMidWrite = () -> asked.incrementAndGet() == 1 ? null : "not renewed for 4000 ms";
        try (var volume = FileExport.wholeFile("vg/web", file, false)) {
            var gated = new LeaseGatedExport(volume, stopsMidWrite);
            var refused = assertThrows(NbdErrorException.class, () -> gated.write(0, ByteBuffer.wrap(filled((byte) 1)), true));
            assertEquals(NbdProtocol.ESHUTDOWN, refused.errno());
            assertEquals(2, asked.get(), "asked before and after");
        }
    }
}
