package fivenines.block.nbd;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Our client against our server and against qemu-nbd; a stopped server fails I/O in bounded time. */
class NbdClientTest {
    @TempDir
    Path dir;

    @Test
    void pipelinedRequestsFromManyThreadsAgainstOurServer() throws Exception {
        try (var nbd = new NbdTestServer(dir)) {
            nbd.serve("disk", NbdTestServer.sparseFile(dir, "disk.img", 16L << 20));
            try (var client = NbdClient.connectUnix(nbd.socket, "disk", Duration.ofSeconds(10))) {
                assertEquals(16L << 20, client.size());
                var writers = new ArrayList<CompletableFuture<Void>>();
                for (int t = 0; t < 8; t++) {
                    int id = t;
                    writers.add(CompletableFuture.runAsync(() -> {
                        try {
                            for (int i = 0; i < 32; i++) {
                                byte[] data = new byte[4096];
                                java.util.Arrays.fill(data, (byte) (id * 32 + i));
                                client.write((long) (id * 32 + i) * 4096, ByteBuffer.wrap(data), i % 8 == 0);
                            }
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    }));
                }
                CompletableFuture.allOf(writers.toArray(CompletableFuture[]::new)).join();
                client.flush();
                for (int block = 0; block < 256; block += 17) {
                    var back = ByteBuffer.allocate(4096);
                    client.read((long) block * 4096, back);
                    byte[] expected = new byte[4096];
                    java.util.Arrays.fill(expected, (byte) block);
                    assertArrayEquals(expected, back.array());
                }
                var past = assertThrows(NbdErrorException.class, () -> client.write((16L << 20) - 512, ByteBuffer.allocate(4096), false));
                assertEquals(NbdProtocol.ENOSPC, past.errno());
                client.read(0, ByteBuffer.allocate(512)); // the connection survives an error reply
            }
        }
    }

    @Test
    void againstQemuNbdAndABoundedFailureWhenTheServerStops() throws Exception {
        Path disk = NbdTestServer.sparseFile(dir, "peer.img", 8L << 20);
        Path socket = dir.resolve("qemu.sock");
        Process qemuNbd = new ProcessBuilder("qemu-nbd", "-f", "raw", "-x", "peer", "-k", socket.toString(), "--shared=4",
            disk.toString()).redirectErrorStream(true).start();
        try {
            for (int i = 0; i < 100 && !socket.toFile().exists(); i++) {
                Thread.sleep(50);
            }
            try (var client = NbdClient.connectUnix(socket, "peer", Duration.ofSeconds(2))) {
                byte[] data = "fivenines".getBytes();
                client.write(8192, ByteBuffer.wrap(data), true);
                var back = ByteBuffer.allocate(data.length);
                client.read(8192, back);
                assertArrayEquals(data, back.array());
                new ProcessBuilder("kill", "-STOP", Long.toString(qemuNbd.pid())).start().waitFor();
                long start = System.nanoTime();
                var error = assertThrows(NbdErrorException.class, () -> client.read(0, ByteBuffer.allocate(4096)));
                long millis = (System.nanoTime() - start) / 1_000_000;
                assertTrue(millis < 5000, "failed after " + millis + " ms");
                assertTrue(error.getMessage().contains("no answer"), error.getMessage());
                assertThrows(NbdErrorException.class, () -> client.read(0, ByteBuffer.allocate(512)), "the connection stays failed");
            }
        } finally {
            new ProcessBuilder("kill", "-CONT", Long.toString(qemuNbd.pid())).start().waitFor();
            qemuNbd.destroyForcibly().waitFor();
        }
        assertThrows(java.io.IOException.class, () -> NbdClient.connectUnix(dir.resolve("none.sock"), "x", Duration.ofSeconds(1)));
    }
}
