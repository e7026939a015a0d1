package fivenines.vm.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fivenines.testsupport.guest.GuestConsole;
import fivenines.testsupport.guest.WorkloadVerifier;
import fivenines.vm.qemu.IncomingMigration;
import fivenines.vm.qemu.QemuProcess;
import fivenines.vm.qemu.TestVms;
import fivenines.vm.qemu.VmFiles;
import fivenines.vm.qemu.VmPhase;
import fivenines.vm.qemu.VmSpec;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Two QEMUs on this machine sharing one raw disk file, the guest writing throughout. */
class LiveMigrationTest {

    @Test
    void failedMigrationKeepsTheSourceAndALaterOneLosesNoWrite(@TempDir Path directory) throws Exception {
        Path disk = TestVms.rawDisk(directory.resolve("disk.raw"), 32 << 20);
        VmSpec spec = TestVms.writeWorkload("migrant", disk);
        var source = QemuProcess.start(spec, VmFiles.in(directory.resolve("source")));
        var sourceConsole = new GuestConsole(source.serialLog());
        QemuProcess destination = null;
        try {
            sourceConsole.awaitAcknowledged(5, Duration.ofSeconds(90));

            // the destination dies part-way: the source must keep running and writing
            int deadPort = freePort();
            var doomed = QemuProcess.startIncoming(spec, VmFiles.in(directory.resolve("doomed")),
                    new IncomingMigration.Tcp("127.0.0.1", deadPort));
            var killed = new AtomicBoolean();
            var slow = MigrationOptions.defaults().withMaxBandwidth(2L << 20).withTimeout(Duration.ofSeconds(60));
            var failure = assertThrows(MigrationFailedException.class, () -> LiveMigration.migrate(
                    source.qmp(), doomed.qmp(), "tcp:127.0.0.1:" + deadPort, slow, progress -> {
                        if (progress.transferredBytes() > (1 << 20) && killed.compareAndSet(false, true)) {
                            killQuietly(doomed);
                        }
                    }));
            assertTrue(killed.get(), "the destination was never killed: migration did not get under way");
            assertEquals("running", failure.sourceStatus(), failure.getMessage());
            assertEquals(VmPhase.RUNNING, source.status().phase());
            long beforeFailure = sourceConsole.acknowledgedSequence();
            sourceConsole.awaitAcknowledged(beforeFailure + 3, Duration.ofSeconds(30));

            // now a good destination
            int port = freePort();
            destination = QemuProcess.startIncoming(spec, VmFiles.in(directory.resolve("destination")),
                    new IncomingMigration.Tcp("127.0.0.1", port));
            assertEquals(VmPhase.INCOMING, destination.status().phase());
            var progress = new ArrayList<MigrationProgress>();
            MigrationResult result = LiveMigration.migrate(source, destination, "tcp:127.0.0.1:" + port,
                    MigrationOptions.defaults(), progress::add);
            System.out.printf("migration of a %d MiB guest: total %d ms, downtime %d ms, %d bytes, %d passes, %d polls%n",
                    spec.memoryMib(), result.totalTime().toMillis(), result.downtime().toMillis(),
                    result.transferredBytes(), result.passes(), progress.size());

            assertFalse(source.isAlive(), "the source QEMU still runs after the migration");
            assertEquals(VmPhase.RUNNING, destination.status().phase());
            assertTrue(result.totalTime().toMillis() > 0 && result.transferredBytes() > 0, result::toString);
            assertEquals(100, progress.getLast().percent());

            var destinationConsole = new GuestConsole(destination.serialLog());
            long handedOver = sourceConsole.acknowledgedSequence();
            destinationConsole.awaitAcknowledged(handedOver + 5, Duration.ofSeconds(60));
            destination.kill();
            long acknowledged = Math.max(handedOver, destinationConsole.acknowledgedSequence());
            WorkloadVerifier.verify(disk).requireHolds(acknowledged);
        } finally {
            killQuietly(source);
            if (destination != null) {
                killQuietly(destination);
            }
        }
    }

    @Test
    void aMigrateAnsweredLaterThanAwaitedIsFollowedNotAbandoned(@TempDir Path directory) throws Exception {
        Path disk = TestVms.rawDisk(directory.resolve("disk.raw"), 32 << 20);
        VmSpec spec = TestVms.writeWorkload("late", disk);
        var source = QemuProcess.start(spec, VmFiles.in(directory.resolve("source")));
        var sourceConsole = new GuestConsole(source.serialLog());
        QemuProcess destination = null;
        try {
            sourceConsole.awaitAcknowledged(3, Duration.ofSeconds(90));
            int port = freePort();
            destination = QemuProcess.startIncoming(spec, VmFiles.in(directory.resolve("destination")),
                    new IncomingMigration.Tcp("127.0.0.1", port));
            // no answer to 'migrate' can come within a nanosecond: as when a loaded QEMU answers late
            MigrationResult result = LiveMigration.migrate(source.qmp(), destination.qmp(), "tcp:127.0.0.1:" + port,
                    MigrationOptions.defaults(), progress -> { }, Duration.ofNanos(1));
            assertTrue(result.transferredBytes() > 0, result::toString);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (destination.status().phase() != VmPhase.RUNNING && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(VmPhase.RUNNING, destination.status().phase(), "the migration went through to the destination");
            long handedOver = sourceConsole.acknowledgedSequence();
            source.kill();
            var destinationConsole = new GuestConsole(destination.serialLog());
            destinationConsole.awaitAcknowledged(handedOver + 3, Duration.ofSeconds(60));
        } finally {
            killQuietly(source);
            if (destination != null) {
                killQuietly(destination);
            }
        }
    }

    private static void killQuietly(QemuProcess vm) {
        try {
            vm.kill();
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static int freePort() throws Exception {
        try (var socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
