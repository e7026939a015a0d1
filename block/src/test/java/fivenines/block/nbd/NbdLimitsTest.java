package fivenines.block.nbd;

import fivenines.block.export.BlockExport;
import fivenines.block.export.ExportRegistry;
import fivenines.block.export.Extent;
import fivenines.block.export.FileExport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static fivenines.block.nbd.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The server's limits and its answers to clients that misbehave, each costing only that client. */
class NbdLimitsTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    private static void awaitConnections(NbdServer server, int count) throws InterruptedException {
        for (int i = 0; i < 200 && server.connections() != count; i++) {
            Thread.sleep(25);
        }
        assertEquals(count, server.connections());
    }

    @Test
    void connectionsBeyondTheLimitAreClosedAndASlotFreesWhenOneEnds() throws Exception {
        var registry = new ExportRegistry();
        try (var export = FileExport.wholeFile("disk", NbdTestServer.sparseFile(dir, "disk.img", 1 << 20), false);
             var server = new NbdServer(NbdServer.Config.builder().tcp("127.0.0.1", 0).maxConnections(2).build(), registry)) {
            registry.add(export);
            server.start();
            var first = NbdClient.connectTcp("127.0.0.1", server.tcpPort(), "disk", TIMEOUT);
            try (var second = NbdClient.connectTcp("127.0.0.1", server.tcpPort(), "disk", TIMEOUT)) {
                awaitConnections(server, 2);
                try (var third = NbdRawClient.connect(server, TIMEOUT)) {
                    assertTrue(third.closedByServer(), "a third connection is closed at accept");
                }
                first.close();
                awaitConnections(server, 1);
                try (var again = NbdClient.connectTcp("127.0.0.1", server.tcpPort(), "disk", TIMEOUT)) {
                    again.write(0, ByteBuffer.wrap(new byte[]{1, 2, 3}), true);
                }
                second.read(0, ByteBuffer.allocate(3)); // the connections inside the limit were never disturbed
            }
        }
    }

    @Test
    void aClientThatStallsInTheHandshakeIsCutOffAtTheDeadline() throws Exception {
        var registry = new ExportRegistry();
        var config = NbdServer.Config.builder().tcp("127.0.0.1", 0).handshakeTimeout(Duration.ofMillis(300)).build();
        try (var server = new NbdServer(config, registry)) {
            server.start();
            try (var idle = NbdRawClient.connect(server, TIMEOUT)) {
                assertEquals(NBDMAGIC, idle.in().readLong());
                idle.in().readLong();
                idle.in().readShort();
                long start = System.nanoTime();
                assertTrue(idle.closedByServer());
                long millis = (System.nanoTime() - start) / 1_000_000;
                assertTrue(millis < 3000, "closed after " + millis + " ms");
            }
            awaitConnections(server, 0);
        }
    }

    @Test
    void unknownOptionsAreRefusedAndTheHandshakeGoesOn() throws Exception {
        try (var nbd = new NbdTestServer(dir)) {
            nbd.serve("disk", NbdTestServer.sparseFile(dir, "disk.img", 1 << 20));
            try (var client = NbdRawClient.connect(nbd.server, TIMEOUT)) {
                client.greet();
                client.option(11, new byte[0]); // NBD_OPT_EXTENDED_HEADERS, which newer libnbd asks for first
                assertEquals(REP_ERR_UNSUP, client.finalReply(11));
                client.option(0x7fff, new byte[]{1, 2, 3});
                assertEquals(REP_ERR_UNSUP, client.finalReply(0x7fff));
                client.option(OPT_GO, ByteBuffer.allocate(10).putInt(4).put("nope".getBytes()).putShort((short) 0).array());
                assertEquals(REP_ERR_UNKNOWN, client.finalReply(OPT_GO));
                client.go("disk");
                client.request(CMD_READ, 7, 0, 512);
                client.out().flush();
                assertEquals(0, client.simpleReply(7));
                assertEquals(512, client.in().readNBytes(512).length);
            }
        }
    }

    @Test
    void requestsOverThePayloadLimitFailOrEndOnlyTheirOwnConnection() throws Exception {
        var registry = new ExportRegistry();
        var config = NbdServer.Config.builder().tcp("127.0.0.1", 0).maxPayload(64 * 1024).build();
        try (var export = FileExport.wholeFile("disk", NbdTestServer.sparseFile(dir, "disk.img", 4 << 20), false);
             var server = new NbdServer(config, registry)) {
            registry.add(export);
            server.start();
            try (var bystander = NbdClient.connectTcp("127.0.0.1", server.tcpPort(), "disk", TIMEOUT);
                 var greedy = NbdRawClient.connect(server, TIMEOUT)) {
                greedy.greet();
                greedy.go("disk");
                greedy.request(CMD_READ, 1, 0, 128 * 1024);
                greedy.out().flush();
                assertEquals(EOVERFLOW, greedy.simpleReply(1), "a READ over the limit is refused");
                greedy.request(CMD_WRITE, 2, 0, 1 << 20);
                greedy.out().write(new byte[4096]);
                greedy.out().flush();
                assertTrue(greedy.closedByServer(), "a WRITE over the limit ends the connection: its payload cannot be skipped");
                byte[] data = {9, 8, 7};
                bystander.write(4096, ByteBuffer.wrap(data), false);
                var back = ByteBuffer.allocate(3);
                bystander.read(4096, back);
                assertArrayEquals(data, back.array());
            }
            awaitConnections(server, 0);
        }
    }

    @Test
    void aClientLeavingInTheMiddleOfAWriteChangesNothing() throws Exception {
        try (var nbd = new NbdTestServer(dir)) {
            nbd.serve("disk", NbdTestServer.sparseFile(dir, "disk.img", 1 << 20));
            try (var leaver = NbdRawClient.connect(nbd.server, TIMEOUT)) {
                leaver.greet();
                leaver.go("disk");
                leaver.request(CMD_WRITE, 1, 65536, 65536);
                byte[] part = new byte[1000];
                java.util.Arrays.fill(part, (byte) 0x66);
                leaver.out().write(part);
                leaver.out().flush();
            }
            awaitConnections(nbd.server, 0);
            try (var client = NbdClient.connectUnix(nbd.socket, "disk", TIMEOUT)) {
                var back = ByteBuffer.allocate(65536);
                client.read(65536, back);
                assertArrayEquals(new byte[65536], back.array(), "half a WRITE is never applied");
            }
        }
    }

    /** Fails writes with ENOSPC and reads with ESHUTDOWN, as a full pool and a fenced writer would. */
    private record FailingExport(String name) implements BlockExport {
        public long size() {
            return 1 << 20;
        }

        public boolean readOnly() {
            return false;
        }

        public void read(long offset, ByteBuffer target) throws IOException {
            throw new NbdErrorException(ESHUTDOWN, "this writer's epoch is outdated");
        }

        public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
            throw new NbdErrorException(ENOSPC, "the pool is full");
        }

        public void flush() {
        }

        public void trim(long offset, long length) throws IOException {
            throw new IOException("an error without an errno of its own");
        }

        public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
            throw new NbdErrorException(EPERM, "not allowed");
        }

        public List<Extent> blockStatus(long offset, long length) {
            return List.of(new Extent(length, false, false));
        }
    }

    @Test
    void exportErrorsReachTheClientWithTheirErrnoAndTheConnectionGoesOn() throws Exception {
        try (var nbd = new NbdTestServer(dir)) {
            nbd.registry.add(new FailingExport("failing"));
            try (var client = NbdClient.connectUnix(nbd.socket, "failing", TIMEOUT)) {
                var full = assertThrows(NbdErrorException.class, () -> client.write(0, ByteBuffer.allocate(4096), false));
                assertEquals(ENOSPC, full.errno());
                assertTrue(full.getMessage().contains("failing") && full.getMessage().contains(nbd.socket.toString()),
                    "the error names the export and the server: " + full.getMessage());
                assertEquals(ESHUTDOWN, assertThrows(NbdErrorException.class, () -> client.read(0, ByteBuffer.allocate(512))).errno());
                assertEquals(EPERM, assertThrows(NbdErrorException.class, () -> client.writeZeroes(0, 4096, false, false)).errno());
                assertEquals(EIO, assertThrows(NbdErrorException.class, () -> client.trim(0, 4096)).errno());
                client.flush();
            }
            // the same errno over a real client: qemu-io reports "No space left on device"
            var outcome = NbdTestServer.run("qemu-io", "-f", "raw", "-c", "write 0 4k", nbd.uri("failing"));
            assertTrue(outcome.out().contains("No space left"), outcome.out());
        }
    }

    @Test
    void exportsComeAndGoWhileTheServerRuns() throws Exception {
        try (var nbd = new NbdTestServer(dir)) {
            var first = nbd.serve("first", NbdTestServer.sparseFile(dir, "first.img", 1 << 20));
            try (var client = NbdClient.connectUnix(nbd.socket, "first", TIMEOUT)) {
                nbd.serve("second", NbdTestServer.sparseFile(dir, "second.img", 2 << 20));
                assertTrue(NbdTestServer.runOk("nbdinfo", "--list", nbd.uri("")).out().contains("second"));
                try (var second = NbdClient.connectUnix(nbd.socket, "second", TIMEOUT)) {
                    assertEquals(2L << 20, second.size());
                }
                nbd.registry.remove("first");
                var gone = assertThrows(IOException.class, () -> NbdClient.connectUnix(nbd.socket, "first", TIMEOUT));
                assertTrue(gone.getMessage().contains("first"), gone.getMessage());
                client.write(0, ByteBuffer.wrap(new byte[]{42}), true); // a connection keeps the export it negotiated
                var back = ByteBuffer.allocate(1);
                first.read(0, back);
                assertEquals(42, back.get(0));
            }
        }
    }

    @Test
    void manyClientsAtOnceEachSeeTheirOwnWrites() throws Exception {
        try (var nbd = new NbdTestServer(dir)) {
            nbd.serve("disk", NbdTestServer.sparseFile(dir, "disk.img", 8 << 20));
            var clients = new ArrayList<NbdClient>();
            try {
                for (int i = 0; i < 64; i++) {
                    clients.add(i % 2 == 0 ? NbdClient.connectUnix(nbd.socket, "disk", TIMEOUT)
                        : NbdClient.connectTcp("127.0.0.1", nbd.server.tcpPort(), "disk", TIMEOUT));
                }
                var threads = new ArrayList<Thread>();
                var failures = new java.util.concurrent.ConcurrentLinkedQueue<Throwable>();
                for (int i = 0; i < clients.size(); i++) {
                    int id = i;
                    threads.add(Thread.ofVirtual().name("limits-test-client-" + id).start(() -> {
                        try {
                            byte[] data = new byte[65536];
                            java.util.Arrays.fill(data, (byte) id);
                            clients.get(id).write((long) id * 65536, ByteBuffer.wrap(data), false);
                            var back = ByteBuffer.allocate(65536);
                            clients.get(id).read((long) id * 65536, back);
                            assertArrayEquals(data, back.array());
                        } catch (Throwable t) {
                            failures.add(t);
                        }
                    }));
                }
                for (Thread thread : threads) {
                    thread.join();
                }
                assertTrue(failures.isEmpty(), () -> "failures: " + failures);
                assertEquals(64, nbd.server.connections());
            } finally {
                clients.forEach(NbdClient::close);
            }
        }
    }

    @Test
    void aStoppedServerEndsItsClientsQuickly() throws Exception {
        NbdClient client;
        try (var nbd = new NbdTestServer(dir)) {
            nbd.serve("disk", NbdTestServer.sparseFile(dir, "disk.img", 1 << 20));
            client = NbdClient.connectUnix(nbd.socket, "disk", TIMEOUT);
            client.read(0, ByteBuffer.allocate(512));
        }
        long start = System.nanoTime();
        assertThrows(NbdErrorException.class, () -> client.read(0, ByteBuffer.allocate(512)));
        assertTrue((System.nanoTime() - start) / 1_000_000 < TIMEOUT.toMillis(), "the closed connection is noticed, not timed out");
        client.close();
    }
}
