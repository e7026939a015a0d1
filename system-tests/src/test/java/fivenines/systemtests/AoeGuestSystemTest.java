package fivenines.systemtests;

import fivenines.block.aoe.AoeTarget;
import fivenines.block.export.FileExport;
import fivenines.testsupport.guest.GuestConsole;
import fivenines.testsupport.guest.TestGuest;
import fivenines.testsupport.guest.WorkloadVerifier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Linux kernel's own aoe driver against our target: the test guest (its initramfs carries the
 * aoe module) on a tap device discovers e1.1, which our target serves on the tap from a file, and
 * writes numbered, checksummed records to /dev/etherd/e1.1, each after the previous was
 * acknowledged. The driver never sends FLUSH: the guest is killed, and the file must still hold
 * every acknowledged record (each write was on stable storage before its reply).
 */
class AoeGuestSystemTest {
    @TempDir
    Path dir;

    private static String run(List<String> command) throws IOException, InterruptedException {
        return Commands.run(command);
    }

    @Test
    void theKernelsAoeDriverWritesRecordsThatAreOnDiskWhenAcknowledged() throws Exception {
        assumeTrue("0".equals(run(List.of("id", "-u")).strip()), "needs root for a tap device and packet sockets");
        TestGuest guest = TestGuest.build();
        Path disk = dir.resolve("aoe.img");
        try (var file = new RandomAccessFile(disk.toFile(), "rw")) {
            file.setLength(16 << 20);
        }
        String tap = "aoetap" + ProcessHandle.current().pid() % 100000;
        run(List.of("ip", "tuntap", "add", "dev", tap, "mode", "tap"));
        Process qemu = null;
        try {
            run(List.of("ip", "link", "set", tap, "up"));
            Path log = dir.resolve("serial.log");
            boolean kvm = fivenines.vm.qemu.Accelerator.detect() == fivenines.vm.qemu.Accelerator.KVM;
            qemu = new ProcessBuilder("qemu-system-x86_64", "-accel", kvm ? "kvm" : "tcg", "-cpu", kvm ? "host" : "qemu64",
                "-m", "256", "-nodefaults",
                "-display", "none", "-no-reboot", "-kernel", guest.kernel().toString(), "-initrd", guest.initrd().toString(),
                "-append", TestGuest.commandLine("nines.net=up", "nines.workload=write", "nines.workload.device=/dev/etherd/e1.1"),
                "-serial", "file:" + log, "-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no",
                "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56")
                .redirectErrorStream(true).redirectOutput(dir.resolve("qemu.log").toFile()).start();
            var console = new GuestConsole(log);
            console.awaitLine(Pattern.compile("NINES-GUEST network up"), Duration.ofSeconds(180));
            try (var export = FileExport.wholeFile("aoe", disk, false);
                 var target = AoeTarget.start(new AoeTarget.Config(tap, 1, 1), () -> export)) {
                console.awaitLine(Pattern.compile("NINES-WORKLOAD resume seq=0$"), Duration.ofSeconds(120));
                console.awaitAcknowledged(200, Duration.ofSeconds(120));
                qemu.destroyForcibly();
                qemu.waitFor(10, TimeUnit.SECONDS);
                long acknowledged = console.acknowledgedSequence();
                var stats = target.stats();
                assertTrue(stats.writes() >= acknowledged && stats.flushes() >= 1, stats.toString());
                System.out.println("aoe driver: " + acknowledged + " records acknowledged; target " + stats);
                WorkloadVerifier.verify(disk).requireHolds(acknowledged);
            }
        } finally {
            if (qemu != null) {
                qemu.destroyForcibly();
                qemu.waitFor(10, TimeUnit.SECONDS);
            }
            run(List.of("ip", "link", "del", tap));
        }
    }
}
