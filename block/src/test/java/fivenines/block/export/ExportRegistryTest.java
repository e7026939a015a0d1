package fivenines.block.export;

import fivenines.block.nbd.NbdServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Expected exports, seen by a real NBD client (nbdinfo) through the server. */
class ExportRegistryTest {
    @TempDir
    Path dir;

    private record Run(int exit, String output, long millis) {
    }

    private static Process nbdinfoSize(int port, String name) throws IOException {
        return new ProcessBuilder("nbdinfo", "--size", "nbd://127.0.0.1:" + port + "/" + name)
            .redirectErrorStream(true).start();
    }

    private static Run finish(Process process, long startedNanos) throws Exception {
        assertTrue(process.waitFor(20, TimeUnit.SECONDS), "nbdinfo ended");
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        return new Run(process.exitValue(), output, (System.nanoTime() - startedNanos) / 1_000_000);
    }

    @Test
    void aClientAskingForAnExpectedExportWaitsUntilItIsAdded() throws Exception {
        var registry = new ExportRegistry();
        Path file = Files.write(dir.resolve("late.img"), new byte[1 << 20]);
        try (var server = new NbdServer(NbdServer.Config.builder().tcp("127.0.0.1", 0).build(), registry)) {
            server.start();
            registry.expect("vg/late", Duration.ofSeconds(10));
            long started = System.nanoTime();
            Process client = nbdinfoSize(server.tcpPort(), "vg/late");
            Thread.sleep(700);
            assertTrue(client.isAlive(), "the client is still waiting in the handshake");
            registry.add(FileExport.wholeFile("vg/late", file, false));
            Run run = finish(client, started);
            assertEquals(0, run.exit(), run.output());
            assertEquals(String.valueOf(1 << 20), run.output());
            assertTrue(run.millis() >= 700, "it was answered only after the export came: " + run.millis() + " ms");
        }
    }

    @Test
    void aWithdrawnExpectationFailsTheWaitingClientAtOnce() throws Exception {
        var registry = new ExportRegistry();
        try (var server = new NbdServer(NbdServer.Config.builder().tcp("127.0.0.1", 0).build(), registry)) {
            server.start();
            registry.expect("vg/never", Duration.ofSeconds(15));
            long started = System.nanoTime();
            Process client = nbdinfoSize(server.tcpPort(), "vg/never");
            Thread.sleep(500);
            registry.unexpect("vg/never");
            Run run = finish(client, started);
            assertNotEquals(0, run.exit(), "no export, no success: " + run.output());
            assertTrue(run.millis() < 5000, "told at once, not after the 15 s patience: " + run.millis() + " ms");
            assertTrue(registry.resolve("vg/never") == null, "and the name is unknown afterwards");
        }
    }

    @Test
    void patienceRunsOutAndAnUnexpectedNameIsRefusedWithoutWaiting() throws Exception {
        var registry = new ExportRegistry();
        registry.expect("vg/slow", Duration.ofMillis(300));
        long started = System.nanoTime();
        assertEquals(null, registry.resolve("vg/slow"));
        long waited = (System.nanoTime() - started) / 1_000_000;
        assertTrue(waited >= 250 && waited < 3000, "waited its patience, no more: " + waited + " ms");
        started = System.nanoTime();
        assertEquals(null, registry.resolve("vg/other"));
        assertTrue((System.nanoTime() - started) / 1_000_000 < 100, "an unknown name is refused at once");
    }
}
