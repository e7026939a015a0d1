package fivenines.block.nbd;

import fivenines.block.export.BlockExport;
import fivenines.block.export.ExportRegistry;
import fivenines.block.export.Extent;
import fivenines.block.export.FileExport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static fivenines.block.nbd.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the server tells clients about an export, checked with nbdinfo, and structured replies
 * (data and hole chunks, error chunks, block status) checked frame by frame.
 */
class NbdNegotiationTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(5);
    private static final int MIB = 1 << 20;
    /** Large enough that a read of it is looked at for holes. */
    private static final int SPARSE = 4 * MIB;

    @TempDir
    Path dir;

    /** nbdinfo --can/--is exit 0 for yes and 2 for no. */
    private static boolean nbdinfoSays(String question, String what, String uri) throws Exception {
        int exit = NbdTestServer.run("nbdinfo", question, what, uri).exit();
        assertTrue(exit == 0 || exit == 2, "nbdinfo " + question + " " + what + " exited " + exit);
        return exit == 0;
    }

    @Test
    void nbdinfoSeesTheSizeFlagsBlockSizesAndDescriptionOfAWritableFile() throws Exception {
        var registry = new ExportRegistry();
        var config = NbdServer.Config.builder().tcp("127.0.0.1", 0).maxPayload(MIB).build();
        try (var export = new FileExport("disk", "the test disk", NbdTestServer.sparseFile(dir, "disk.img", 8 * MIB), 0, 8 * MIB, false);
             var server = new NbdServer(config, registry)) {
            registry.add(export);
            server.start();
            String uri = "nbd://127.0.0.1:" + server.tcpPort() + "/disk";
            String json = NbdTestServer.runOk("nbdinfo", "--json", uri).out().replaceAll("\\s", "");
            for (String expected : List.of("\"description\":\"thetestdisk\"", "\"export-size\":" + 8 * MIB,
                "\"block_size_minimum\":1", "\"block_size_preferred\":4096", "\"block_size_maximum\":" + MIB,
                "\"base:allocation\"", "\"is_read_only\":false")) {
                assertTrue(json.contains(expected), expected + " in " + json);
            }
            for (String capability : List.of("flush", "fua", "trim", "zero", "fast-zero", "cache", "df", "multi-conn")) {
                assertTrue(nbdinfoSays("--can", capability, uri), "a writable file export can " + capability);
            }
        }
    }

    @Test
    void aReadOnlyExportSaysSoAndRefusesWritesWithEperm() throws Exception {
        Path file = NbdTestServer.sparseFile(dir, "ro.img", MIB);
        var registry = new ExportRegistry();
        try (var export = FileExport.wholeFile("ro", file, true);
             var server = new NbdServer(NbdServer.Config.builder().tcp("127.0.0.1", 0).build(), registry)) {
            registry.add(export);
            server.start();
            String uri = "nbd://127.0.0.1:" + server.tcpPort() + "/ro";
            assertTrue(nbdinfoSays("--is", "read-only", uri));
            assertFalse(nbdinfoSays("--can", "trim", uri), "no TRIM on a read-only export");
            assertFalse(nbdinfoSays("--can", "zero", uri), "no WRITE_ZEROES on a read-only export");
            try (var client = NbdRawClient.connect(server, TIMEOUT)) {
                client.greet();
                client.go("ro");
                client.request(CMD_WRITE, 1, 0, 4);
                client.out().write(new byte[]{1, 2, 3, 4});
                client.request(CMD_TRIM, 2, 0, 4096);
                client.request(CMD_WRITE_ZEROES, 3, 0, 4096);
                client.out().flush();
                var cookies = new java.util.TreeSet<Long>();
                for (int i = 0; i < 3; i++) {
                    var reply = client.anyReply(); // replies may come in any order
                    assertEquals(EPERM, reply.payload().getInt(), "reply to " + reply.cookie());
                    cookies.add(reply.cookie());
                }
                assertEquals(java.util.Set.of(1L, 2L, 3L), cookies);
            }
        }
        assertArrayEquals(new byte[4], Arrays.copyOf(Files.readAllBytes(file), 4), "the file is untouched");
    }

    /** An export whose flushes cover only its own connection and whose zeroing writes. */
    private record Private(BlockExport inner) implements BlockExport {
        public String name() {
            return "private";
        }

        public long size() {
            return inner.size();
        }

        public boolean readOnly() {
            return false;
        }

        public void read(long offset, ByteBuffer target) throws IOException {
            inner.read(offset, target);
        }

        public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
            inner.write(offset, source, fua);
        }

        public void flush() throws IOException {
            inner.flush();
        }

        public void trim(long offset, long length) throws IOException {
            inner.trim(offset, length);
        }

        public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
            inner.writeZeroes(offset, length, true, fua);
        }

        public List<Extent> blockStatus(long offset, long length) throws IOException {
            return inner.blockStatus(offset, length);
        }

        public boolean canMultiConn() {
            return false;
        }

        public boolean fastZero() {
            return false;
        }
    }

    @Test
    void flagsFollowTheExportWhenItCannotShareFlushesOrZeroFast() throws Exception {
        try (var nbd = new NbdTestServer(dir);
             var file = FileExport.wholeFile("inner", NbdTestServer.sparseFile(dir, "p.img", MIB), false)) {
            nbd.registry.add(new Private(file));
            assertFalse(nbdinfoSays("--can", "multi-conn", nbd.uri("private")));
            assertFalse(nbdinfoSays("--can", "fast-zero", nbd.uri("private")));
            assertTrue(nbdinfoSays("--can", "zero", nbd.uri("private")));
            try (var client = NbdRawClient.connect(nbd.server, TIMEOUT)) {
                client.greet();
                client.go("private");
                client.request(CMD_FLAG_FAST_ZERO, CMD_WRITE_ZEROES, 1, 0, 4096);
                client.out().flush();
                assertEquals(ENOTSUP, client.simpleReply(1), "slow zeroing refused when the client asked for fast");
                client.request(CMD_WRITE_ZEROES, 2, 0, 4096);
                client.out().flush();
                assertEquals(0, client.simpleReply(2));
            }
        }
    }

    /** SPARSE bytes with data in the first and last 64 KiB and a hole between. */
    private Path dataHoleData() throws IOException {
        Path file = NbdTestServer.sparseFile(dir, "sparse.img", SPARSE);
        byte[] data = new byte[64 * 1024];
        Arrays.fill(data, (byte) 0xd7);
        try (var channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.wrap(data), 0);
            channel.write(ByteBuffer.wrap(data), SPARSE - data.length);
        }
        return file;
    }

    /** GO with structured replies and base:allocation negotiated first. */
    private static void structuredGo(NbdRawClient client, String export) throws IOException {
        client.greet();
        client.option(OPT_STRUCTURED_REPLY, new byte[0]);
        assertEquals(REP_ACK, client.finalReply(OPT_STRUCTURED_REPLY));
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        byte[] context = BASE_ALLOCATION.getBytes(StandardCharsets.UTF_8);
        client.option(OPT_SET_META_CONTEXT, ByteBuffer.allocate(4 + name.length + 4 + 4 + context.length)
            .putInt(name.length).put(name).putInt(1).putInt(context.length).put(context).array());
        assertEquals(REP_ACK, client.finalReply(OPT_SET_META_CONTEXT));
        client.go(export);
    }

    @Test
    void structuredReadsSendHolesAsHoleChunksAndCoverTheRangeExactly() throws Exception {
        try (var nbd = new NbdTestServer(dir)) {
            nbd.serve("sparse", dataHoleData());
            try (var client = NbdRawClient.connect(nbd.server, TIMEOUT)) {
                structuredGo(client, "sparse");
                client.request(CMD_READ, 1, 0, SPARSE);
                client.out().flush();
                byte[] image = new byte[SPARSE];
                Arrays.fill(image, (byte) 1); // so that a byte no chunk covers shows
                var chunks = new ArrayList<NbdRawClient.Chunk>();
                long covered = 0;
                do {
                    var chunk = client.chunk();
                    assertEquals(1, chunk.cookie());
                    chunks.add(chunk);
                    long offset = chunk.payload().getLong();
                    if (chunk.type() == REPLY_TYPE_OFFSET_HOLE) {
                        int length = chunk.payload().getInt();
                        Arrays.fill(image, (int) offset, (int) offset + length, (byte) 0);
                        covered += length;
                    } else {
                        assertEquals(REPLY_TYPE_OFFSET_DATA, chunk.type());
                        int length = chunk.payload().remaining();
                        chunk.payload().get(image, (int) offset, length);
                        covered += length;
                    }
                } while (!chunks.getLast().done());
                assertEquals(SPARSE, covered, "the chunks cover the range once");
                assertTrue(chunks.stream().anyMatch(chunk -> chunk.type() == REPLY_TYPE_OFFSET_HOLE), "the hole is sent as a hole");
                byte[] expected = new byte[SPARSE];
                Arrays.fill(expected, 0, 64 * 1024, (byte) 0xd7);
                Arrays.fill(expected, SPARSE - 64 * 1024, SPARSE, (byte) 0xd7);
                assertArrayEquals(expected, image);

                client.request(CMD_FLAG_DF, CMD_READ, 2, 0, SPARSE);
                client.out().flush();
                var whole = client.chunk();
                assertTrue(whole.done() && whole.type() == REPLY_TYPE_OFFSET_DATA, "DF: one data chunk");
                assertEquals(8 + SPARSE, whole.payload().remaining());

                client.request(CMD_READ, 3, SPARSE - 512, 1024);
                client.out().flush();
                var error = client.chunk();
                assertTrue(error.done() && (error.type() & 0x8000) != 0, "a read past the end is an error chunk");
                assertEquals(EINVAL, error.payload().getInt());
            }
        }
    }

    @Test
    void blockStatusReportsDataAndHolesAndOneExtentWhenAskedForOne() throws Exception {
        try (var nbd = new NbdTestServer(dir)) {
            nbd.serve("sparse", dataHoleData());
            try (var client = NbdRawClient.connect(nbd.server, TIMEOUT)) {
                structuredGo(client, "sparse");
                client.request(CMD_BLOCK_STATUS, 1, 0, SPARSE);
                client.out().flush();
                var status = client.chunk();
                assertTrue(status.done());
                assertEquals(REPLY_TYPE_BLOCK_STATUS, status.type());
                assertEquals(BASE_ALLOCATION_ID, status.payload().getInt());
                var extents = new ArrayList<long[]>();
                while (status.payload().hasRemaining()) {
                    extents.add(new long[]{Integer.toUnsignedLong(status.payload().getInt()), status.payload().getInt()});
                }
                assertEquals(List.of(64L * 1024, SPARSE - 128L * 1024, 64L * 1024), extents.stream().map(e -> e[0]).toList());
                assertEquals(List.of(0L, 3L, 0L), extents.stream().map(e -> e[1]).toList(), "data, hole (reads as zero), data");

                client.request(CMD_FLAG_REQ_ONE, CMD_BLOCK_STATUS, 2, 0, SPARSE);
                client.request(CMD_CACHE, 3, 0, SPARSE);
                client.out().flush();
                for (int i = 0; i < 2; i++) {
                    var reply = client.anyReply(); // replies may come in any order
                    if (reply.cookie() == 2) {
                        assertEquals(REPLY_TYPE_BLOCK_STATUS, reply.type());
                        assertEquals(4 + 8, reply.payload().remaining(), "REQ_ONE: a single extent");
                    } else {
                        assertEquals(3, reply.cookie());
                        assertEquals(0, reply.payload().getInt(), "CACHE is accepted");
                    }
                }
            }
        }
    }
}
