package fivenines.vm.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fivenines.testsupport.guest.GuestConsole;
import fivenines.testsupport.guest.TestGuest;
import fivenines.testsupport.guest.WorkloadVerifier;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TestGuestBootTest {
    private static final Pattern RESUMED = Pattern.compile("^NINES-WORKLOAD resume seq=(\\d+)$");

    @Test
    void guestBootsAndSaysSo(@TempDir Path directory) throws Exception {
        VmSpec spec = TestVms.guest("boot", TestGuest.commandLine(), List.of());
        long started = System.nanoTime();
        try (var vm = QemuProcess.start(spec, VmFiles.in(directory))) {
            try {
                new GuestConsole(vm.serialLog()).awaitLine(Pattern.compile(Pattern.quote(TestGuest.UP_LINE)), Duration.ofSeconds(60));
                System.out.printf("guest up after %d ms (%s)%n", (System.nanoTime() - started) / 1_000_000, Accelerator.detect());
                assertEquals(VmPhase.RUNNING, vm.status().phase());
            } finally {
                vm.stop(Duration.ofSeconds(5));
            }
            assertEquals(VmStatus.GONE, vm.status());
        }
    }

    @Test
    void workloadSurvivesStopAndResumesOnNextBoot(@TempDir Path directory) throws Exception {
        Path disk = TestVms.rawDisk(directory.resolve("disk.raw"), 16 << 20);
        long acknowledged;
        try (var vm = QemuProcess.start(TestVms.writeWorkload("workload", disk), VmFiles.in(directory.resolve("first")))) {
            var console = new GuestConsole(vm.serialLog());
            try {
                console.awaitAcknowledged(20, Duration.ofSeconds(90));
            } finally {
                vm.kill();
            }
            acknowledged = console.acknowledgedSequence();
        }
        var afterFirst = WorkloadVerifier.verify(disk);
        afterFirst.requireHolds(acknowledged);

        try (var vm = QemuProcess.start(TestVms.writeWorkload("workload", disk), VmFiles.in(directory.resolve("second")))) {
            var console = new GuestConsole(vm.serialLog());
            try {
                long resumedFrom = Long.parseLong(console.awaitLine(RESUMED, Duration.ofSeconds(90)).group(1));
                assertTrue(resumedFrom >= acknowledged, "resumed from " + resumedFrom + " before acknowledged " + acknowledged);
                assertTrue(resumedFrom <= afterFirst.lastSequence(), "resumed beyond what the disk holds");
                console.awaitAcknowledged(resumedFrom + 10, Duration.ofSeconds(60));
            } finally {
                vm.stop(Duration.ofSeconds(5));
            }
            WorkloadVerifier.verify(disk).requireHolds(console.acknowledgedSequence());
        }
    }
}
