package fivenines.vm.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fivenines.testsupport.guest.TestGuest;
import fivenines.vm.qemu.QemuProcess;
import fivenines.vm.qemu.TestVms;
import fivenines.vm.qemu.VmFiles;
import fivenines.vm.qemu.VmPhase;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QmpClientTest {

    @Test
    void stopAndContBringStopAndResumeEvents(@TempDir Path directory) throws Exception {
        try (var vm = QemuProcess.start(TestVms.guest("qmp", TestGuest.commandLine(), List.of()), VmFiles.in(directory))) {
            try {
                var events = new LinkedBlockingQueue<QmpEvent>();
                vm.qmp().addEventListener(events::add);
                assertTrue(vm.qmp().qemuVersion().matches("\\d+\\.\\d+\\.\\d+"));
                assertEquals("running", vm.qmp().execute("query-status").path("status").asText());

                vm.pause();
                assertEquals("STOP", nextEvent(events, "STOP").name());
                assertEquals(VmPhase.PAUSED, vm.status().phase());
                assertEquals("paused", vm.status().qemuStatus());

                vm.resume();
                QmpEvent resumed = nextEvent(events, "RESUME");
                assertEquals("qmp", resumed.vmName());
                assertEquals(VmPhase.RUNNING, vm.status().phase());
            } finally {
                vm.stop(Duration.ofSeconds(5));
            }
        }
    }

    @Test
    void qemuErrorsNameTheVmAndTheirClass(@TempDir Path directory) throws Exception {
        try (var vm = QemuProcess.start(TestVms.guest("errors", TestGuest.commandLine(), List.of()), VmFiles.in(directory))) {
            try {
                var unknown = assertThrows(QmpCommandException.class, () -> vm.qmp().execute("no-such-command"));
                assertEquals("CommandNotFound", unknown.errorClass());
                assertTrue(unknown.getMessage().contains("VM errors"), unknown.getMessage());
                assertFalse(unknown.mayHaveHappened());

                var badArgument = assertThrows(QmpCommandException.class,
                        () -> vm.qmp().execute("block_resize", Map.of("device", "nothing", "size", 1024)));
                assertEquals("GenericError", badArgument.errorClass());
            } finally {
                vm.kill();
            }
            // QEMU is gone: a command now fails as a lost connection, which may or may not have happened
            var lost = assertThrows(QmpConnectionException.class, () -> vm.qmp().execute("query-status"));
            assertTrue(lost.getMessage().contains("errors"), lost.getMessage());
        }
    }

    static QmpEvent nextEvent(LinkedBlockingQueue<QmpEvent> events, String name) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            QmpEvent event = events.poll(100, TimeUnit.MILLISECONDS);
            if (event != null && event.name().equals(name)) {
                return event;
            }
        }
        throw new AssertionError("no QMP event " + name + " within 10 s");
    }
}
