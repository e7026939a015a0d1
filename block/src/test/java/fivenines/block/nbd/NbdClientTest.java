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
    void requestsLargerThanTheServersLimitAreSplitAndRefusalsNameTheErrno() throws Exception {
        Path disk = NbdTestServer.sparseFile(dir, "small-limit.img", 8L << 20);
        var registry = new fivenines.block.export.ExportRegistry();
        var config = NbdServer.Config.builder().tcp("127.0.0.1", 0).maxPayload(1 << 20).build();
        try (var export = fivenines.block.export.FileExport.wholeFile("disk", disk, false);
             var server = new NbdServer(config, registry)) {
            registry.add(export);
            server.start();
            try (var client = NbdClient.connectTcp("127.0.0.1", server.tcpPort(), "disk", Duration.ofSeconds(10))) {
                assertEquals(1 << 20, client.maximumBlockSize());
                assertTrue(client.canMultiConn());
                byte[] data = new byte[(3 << 20) + 4096];
                new java.util.Random(5).nextBytes(data);
                client.write(4096, ByteBuffer.wrap(data), true);
                var back = ByteBuffer.allocateDirect(data.length);
                client.read(4096, back);
                byte[] read = new byte[data.length];
                back.flip().get(read);
                assertArrayEquals(data, read);
                client.writeZeroes(4096, 8192, false, false);
                client.trim(1 << 20, 1 << 20);
                var zeroes = ByteBuffer.allocate(8192);
                client.read(4096, zeroes);
                assertArrayEquals(new byte[8192], zeroes.array());
                var past = assertThrows(NbdErrorException.class, () -> client.trim(8L << 20, 4096));
                assertEquals(NbdProtocol.EINVAL, past.errno());
                assertTrue(past.getMessage().contains("127.0.0.1:" + server.tcpPort()) && past.getMessage().contains("'disk'")
                    && past.getMessage().contains("EINVAL"), past.getMessage());
            }
            var unknown = assertThrows(java.io.IOException.class,
                () -> NbdClient.connectTcp("127.0.0.1", server.tcpPort(), "nope", Duration.ofSeconds(5)));
            assertTrue(unknown.getMessage().contains("'nope'") && unknown.getMessage().contains("no such export"), unknown.getMessage());
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
