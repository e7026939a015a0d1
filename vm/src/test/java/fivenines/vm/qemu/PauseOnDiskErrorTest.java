package fivenines.vm.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fivenines.testsupport.guest.GuestConsole;
import fivenines.testsupport.guest.TestGuest;
import fivenines.testsupport.guest.WorkloadVerifier;
import fivenines.vm.qmp.QmpEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A disk that answers writes with ENOSPC, as a full thin pool does: the guest must pause
 * (not see the error), and continue without losing a write once space is back. The disk is
 * nbdkit's file plugin behind its error filter, which fails every write while a trigger
 * file exists.
 */
class PauseOnDiskErrorTest {

    @Test
    void fullDiskPausesTheGuestAndContinueLosesNoWrite(@TempDir Path directory) throws Exception {
        Path disk = TestVms.rawDisk(directory.resolve("disk.raw"), 16 << 20);
        Path socket = directory.resolve("nbd.sock");
        Path full = directory.resolve("pool-is-full");
        Process nbdkit = new ProcessBuilder("nbdkit", "-f", "-U", socket.toString(), "--filter=error",
                "file", "file=" + disk, "error-pwrite=ENOSPC", "error-pwrite-rate=100%", "error-pwrite-file=" + full)
                .redirectErrorStream(true)
                .redirectOutput(directory.resolve("nbdkit.log").toFile())
                .start();
        try {
            awaitFile(socket);
            VmSpec spec = TestVms.guest("thin", TestGuest.writeWorkloadCommandLine(),
                    List.of(DiskSpec.of(new DiskSource.NbdUnix(socket, ""))));
            try (var vm = QemuProcess.start(spec, VmFiles.in(directory.resolve("vm")))) {
                try {
                    var events = new LinkedBlockingQueue<QmpEvent>();
                    vm.qmp().addEventListener(events::add);
                    var console = new GuestConsole(vm.serialLog());
                    console.awaitAcknowledged(5, Duration.ofSeconds(90));

                    Files.createFile(full);
                    QmpEvent error = awaitEvent(events, "BLOCK_IO_ERROR");
                    assertEquals("write", error.data().path("operation").asText(), error.data().toString());
                    assertEquals("stop", error.data().path("action").asText(), error.data().toString());
                    assertTrue(error.data().path("nospace").asBoolean(), "ENOSPC not reported as nospace: " + error.data());
                    assertEquals(new VmStatus(VmPhase.IO_ERROR, "io-error"), vm.status());
                    long paused = console.acknowledgedSequence();
                    Thread.sleep(1000);
                    assertEquals(paused, console.acknowledgedSequence(), "the guest acknowledged writes while paused");
                    assertTrue(console.lines().stream().noneMatch(line -> line.contains("NINES-WORKLOAD error")),
                            "the guest saw the I/O error instead of being paused");

                    Files.delete(full);
                    vm.resume();
                    awaitEvent(events, "RESUME");
                    console.awaitAcknowledged(paused + 5, Duration.ofSeconds(60));
                    assertEquals(VmPhase.RUNNING, vm.status().phase());
                } finally {
                    vm.stop(Duration.ofSeconds(5));
                }
                WorkloadVerifier.verify(disk).requireHolds(new GuestConsole(vm.serialLog()).acknowledgedSequence());
            }
        } finally {
            nbdkit.destroy();
            nbdkit.waitFor(5, TimeUnit.SECONDS);
        }
    }

    private static QmpEvent awaitEvent(LinkedBlockingQueue<QmpEvent> events, String name) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            QmpEvent event = events.poll(100, TimeUnit.MILLISECONDS);
            if (event != null && event.name().equals(name)) {
                return event;
            }
        }
        throw new AssertionError("no QMP event " + name + " within 30 s");
    }

    private static void awaitFile(Path file) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(file)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("nbdkit did not create " + file);
            }
            Thread.sleep(20);
        }
    }
}
