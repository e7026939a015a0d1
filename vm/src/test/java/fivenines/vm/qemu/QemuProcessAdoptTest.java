package fivenines.vm.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fivenines.testsupport.guest.TestGuest;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QemuProcessAdoptTest {

    @Test
    void adoptedVmIsStillControllable(@TempDir Path directory) throws Exception {
        VmFiles files = VmFiles.in(directory);
        long pid;
        try (var started = QemuProcess.start(TestVms.guest("adoptee", TestGuest.commandLine(), List.of()), files)) {
            pid = started.pid();
            // closing the Java object lets go of QEMU; it must keep running
        }
        assertTrue(ProcessHandle.of(pid).isPresent(), "QEMU stopped when its Java object was closed");

        // a live QEMU whose QMP does not answer is not "not running": nothing may start another on its disks
        java.nio.file.Path moved = files.qmpSocket().resolveSibling("qmp.moved");
        java.nio.file.Files.move(files.qmpSocket(), moved);
        var unanswered = assertThrows(IOException.class, () -> QemuProcess.adopt("adoptee", files));
        assertFalse(unanswered instanceof QemuProcess.NotRunning, "a live QEMU counted as not running: " + unanswered);
        java.nio.file.Files.move(moved, files.qmpSocket());

        var adopted = QemuProcess.adopt("adoptee", files);
        try {
            assertEquals(pid, adopted.pid());
            assertEquals(VmPhase.RUNNING, adopted.status().phase());
            adopted.pause();
            assertEquals(VmPhase.PAUSED, adopted.status().phase());
            adopted.resume();
            assertEquals(VmPhase.RUNNING, adopted.status().phase());
        } finally {
            adopted.stop(Duration.ofSeconds(5));
        }
        assertEquals(VmStatus.GONE, adopted.status());
        assertThrows(QemuProcess.NotRunning.class, () -> QemuProcess.adopt("adoptee", files),
                "adopting a VM whose QEMU has exited must fail");
    }
}
