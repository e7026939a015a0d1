package fivenines.block.nbd;

import fivenines.block.export.BlockExport;
import fivenines.block.export.ExportRegistry;
import fivenines.block.export.Extent;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Thousands of random and malformed frames, in the handshake and in transmission, against a
 * live server whose export is in memory. Afterwards the export holds exactly what the
 * well-formed writes put there (nothing outside it was touched) and a well-behaved client works.
 */
class NbdRobustnessProperties {
    static final int SIZE = 1 << 20;
    static MemoryExport export;
    static NbdServer server;
    static byte[] model;

    /** An in-memory export that refuses to be written outside its bounds. */
    static final class MemoryExport implements BlockExport {
        final byte[] bytes = new byte[SIZE];

        public String name() {
            return "mem";
        }

        public long size() {
            return SIZE;
        }

        public boolean readOnly() {
            return false;
        }

        public synchronized void read(long offset, ByteBuffer target) {
            target.put(bytes, (int) offset, target.remaining());
        }

        public synchronized void write(long offset, ByteBuffer source, boolean fua) {
            source.get(bytes, (int) offset, source.remaining());
        }

        public void flush() {
        }

        public synchronized void trim(long offset, long length) {
        }

        public synchronized void writeZeroes(long offset, long length, boolean noHole, boolean fua) {
            java.util.Arrays.fill(bytes, (int) offset, (int) (offset + length), (byte) 0);
        }

        public List<Extent> blockStatus(long offset, long length) {
            return List.of(new Extent(length, false, false));
        }
    }

    @BeforeContainer
    static void start() throws IOException {
        export = new MemoryExport();
        model = new byte[SIZE];
        var registry = new ExportRegistry();
        registry.add(export);
        server = new NbdServer(NbdServer.Config.builder().tcp("127.0.0.1", 0).maxConnections(64).maxPayload(1 << 20).build(), registry);
        server.start();
    }

    @AfterContainer
    static void stop() throws Exception {
        // a well-behaved client still gets the right data after all the abuse
        try (var client = connect()) {
            goTo(client, "mem");
            byte[] data = new byte[4096];
            java.util.Arrays.fill(data, (byte) 0x3c);
            request(client, 1, 1, 4096, 4096, data);
            assertEquals(0, simpleReplyError(client));
            request(client, 0, 2, 4096, 4096, null);
            assertEquals(0, simpleReplyError(client));
            byte[] back = new byte[4096];
            client.in.readFully(back);
            assertArrayEquals(data, back);
            System.arraycopy(data, 0, model, 4096, 4096);
        }
        assertArrayEquals(model, export.bytes, "the export differs from what well-formed writes put there");
        try (var client = NbdClient.connectTcp("127.0.0.1", server.tcpPort(), "mem", java.time.Duration.ofSeconds(5))) {
            var whole = ByteBuffer.allocate(SIZE);
            client.read(0, whole);
            assertArrayEquals(model, whole.array(), "our client reads back what the model holds");
        }
        server.close();
    }

    record Client(Socket socket, DataInputStream in, DataOutputStream out) implements AutoCloseable {
        public void close() throws IOException {
            socket.close();
        }
    }

    static Client connect() throws IOException {
        var socket = new Socket("127.0.0.1", server.tcpPort());
        socket.setSoTimeout(5000);
        socket.setTcpNoDelay(true);
        var client = new Client(socket, new DataInputStream(new java.io.BufferedInputStream(socket.getInputStream())),
            new DataOutputStream(new java.io.BufferedOutputStream(socket.getOutputStream())));
        assertEquals(NbdProtocol.NBDMAGIC, client.in.readLong());
        assertEquals(NbdProtocol.IHAVEOPT, client.in.readLong());
        client.in.readShort();
        return client;
    }

    static void goTo(Client client, String name) throws IOException {
        client.out.writeInt(NbdProtocol.FLAG_C_FIXED_NEWSTYLE | NbdProtocol.FLAG_C_NO_ZEROES);
        byte[] bytes = name.getBytes();
        client.out.writeLong(NbdProtocol.IHAVEOPT);
        client.out.writeInt(NbdProtocol.OPT_GO);
        client.out.writeInt(4 + bytes.length + 2);
        client.out.writeInt(bytes.length);
        client.out.write(bytes);
        client.out.writeShort(0);
        client.out.flush();
        while (true) {
            assertEquals(NbdProtocol.OPTION_REPLY_MAGIC, client.in.readLong());
            client.in.readInt();
            int type = client.in.readInt();
            int length = client.in.readInt();
            client.in.readNBytes(length);
            if (type == NbdProtocol.REP_ACK) {
                return;
            }
            if (type < 0) {
                throw new IOException("GO refused: " + Integer.toHexString(type));
            }
        }
    }

    static void request(Client client, int type, long cookie, long offset, int length, byte[] payload) throws IOException {
        client.out.writeInt(NbdProtocol.REQUEST_MAGIC);
        client.out.writeShort(0);
        client.out.writeShort(type);
        client.out.writeLong(cookie);
        client.out.writeLong(offset);
        client.out.writeInt(length);
        if (payload != null) {
            client.out.write(payload);
        }
        client.out.flush();
    }

    static int simpleReplyError(Client client) throws IOException {
        assertEquals(NbdProtocol.SIMPLE_REPLY_MAGIC, client.in.readInt());
        int error = client.in.readInt();
        client.in.readLong();
        return error;
    }

    /** Random bytes thrown at the handshake: the server must close or answer, never die. */
    @Property(tries = 400)
    void garbageDuringTheHandshakeNeverHurtsTheServer(@ForAll("garbage") byte[] garbage) throws IOException {
        try (var client = connect()) {
            client.out.write(garbage);
            client.out.flush();
            client.socket.shutdownOutput();
            client.in.readAllBytes();
        } catch (java.net.SocketTimeoutException | java.net.SocketException e) {
            // the server may keep waiting for more or reset: both are fine
        }
    }

    /**
     * Requests with random types, flags, offsets and lengths (some beyond the end, some huge),
     * mixed with well-formed writes whose effect the model tracks.
     */
    @Property(tries = 300)
    void randomRequestsNeverWriteOutsideTheExport(@ForAll("requests") List<long[]> requests) throws IOException {
        try (var client = connect()) {
            goTo(client, "mem");
            long cookie = 100;
            for (long[] r : requests) {
                int type = (int) r[0];
                long offset = r[1];
                int length = (int) r[2];
                byte fill = (byte) r[3];
                if (type == NbdProtocol.CMD_WRITE) {
                    if (length > (1 << 20)) {
                        // over the payload limit: the server must close this connection, not read the data
                        request(client, type, cookie++, offset, length, null);
                        try {
                            client.in.readInt();
                        } catch (IOException closed) {
                            return;
                        }
                        return;
                    }
                    byte[] payload = new byte[length];
                    java.util.Arrays.fill(payload, fill);
                    request(client, type, cookie++, offset, length, payload);
                    int error = simpleReplyError(client);
                    boolean inside = length > 0 && offset >= 0 && offset <= SIZE - length;
                    assertEquals(inside ? 0 : (length == 0 ? NbdProtocol.EINVAL : NbdProtocol.ENOSPC), error,
                        "write of " + length + " at " + offset);
                    if (inside) {
                        java.util.Arrays.fill(model, (int) offset, (int) offset + length, fill);
                    }
                } else if (type == NbdProtocol.CMD_READ) {
                    request(client, type, cookie++, offset, length, null);
                    int error = simpleReplyError(client);
                    boolean inside = length > 0 && offset >= 0 && offset <= SIZE - length;
                    if (inside && length <= (1 << 20)) {
                        assertEquals(0, error);
                        byte[] data = new byte[length];
                        client.in.readFully(data);
                        assertArrayEquals(java.util.Arrays.copyOfRange(model, (int) offset, (int) offset + length), data);
                    } else {
                        assertTrue(error != 0, "read of " + length + " at " + offset + " must fail");
                    }
                } else {
                    request(client, type, cookie++, offset, length, null);
                    simpleReplyError(client);
                }
            }
            request(client, NbdProtocol.CMD_DISC, cookie, 0, 0, null);
        }
    }

    /**
     * Option haggling with well-framed but random options (known and unknown numbers, data that
     * fits or not): every option gets a reply for that option, and the session still ends in GO.
     */
    @Property(tries = 300)
    void randomOptionsAreAnsweredAndTheHandshakeGoesOn(@ForAll("options") List<byte[]> options) throws IOException {
        try (var client = connect()) {
            client.out.writeInt(NbdProtocol.FLAG_C_FIXED_NEWSTYLE | NbdProtocol.FLAG_C_NO_ZEROES);
            for (byte[] option : options) {
                int number = ByteBuffer.wrap(option).getInt();
                if (number == NbdProtocol.OPT_EXPORT_NAME || number == NbdProtocol.OPT_ABORT || number == NbdProtocol.OPT_GO
                    || number == NbdProtocol.OPT_STARTTLS) {
                    continue; // these end haggling or change the stream; GO comes last
                }
                client.out.writeLong(NbdProtocol.IHAVEOPT);
                client.out.writeInt(number);
                client.out.writeInt(option.length - 4);
                client.out.write(option, 4, option.length - 4);
                client.out.flush();
                while (true) {
                    assertEquals(NbdProtocol.OPTION_REPLY_MAGIC, client.in.readLong());
                    assertEquals(number, client.in.readInt(), "a reply names the option it answers");
                    int type = client.in.readInt();
                    client.in.readNBytes(client.in.readInt());
                    if (type == NbdProtocol.REP_ACK || type < 0) {
                        break; // a final reply: ACK or an error
                    }
                }
            }
            byte[] name = "mem".getBytes();
            client.out.writeLong(NbdProtocol.IHAVEOPT);
            client.out.writeInt(NbdProtocol.OPT_GO);
            client.out.writeInt(4 + name.length + 2);
            client.out.writeInt(name.length);
            client.out.write(name);
            client.out.writeShort(0);
            client.out.flush();
            int type;
            do {
                assertEquals(NbdProtocol.OPTION_REPLY_MAGIC, client.in.readLong());
                client.in.readInt();
                type = client.in.readInt();
                client.in.readNBytes(client.in.readInt());
            } while (type != NbdProtocol.REP_ACK && type > 0);
            assertEquals(NbdProtocol.REP_ACK, type, "GO succeeds after any haggling");
            request(client, NbdProtocol.CMD_DISC, 1, 0, 0, null);
        }
    }

    /**
     * Bursts of pipelined writes at distinct places, then of reads: replies may come in any
     * order, each names its request, and the reads see exactly the writes.
     */
    @Property(tries = 100)
    void pipelinedBurstsAreAnsweredOnceEachAndReadBackTheirWrites(@ForAll("bursts") List<Integer> blocks) throws IOException {
        var distinct = blocks.stream().distinct().toList();
        try (var client = connect()) {
            goTo(client, "mem");
            for (int block : distinct) {
                byte[] payload = new byte[4096];
                java.util.Arrays.fill(payload, (byte) (block * 7 + 1));
                client.out.writeInt(NbdProtocol.REQUEST_MAGIC);
                client.out.writeShort(block % 5 == 0 ? NbdProtocol.CMD_FLAG_FUA : 0);
                client.out.writeShort(NbdProtocol.CMD_WRITE);
                client.out.writeLong(block);
                client.out.writeLong((long) block * 4096);
                client.out.writeInt(4096);
                client.out.write(payload);
            }
            client.out.flush();
            var answered = new java.util.HashSet<Long>();
            for (int i = 0; i < distinct.size(); i++) {
                assertEquals(NbdProtocol.SIMPLE_REPLY_MAGIC, client.in.readInt());
                assertEquals(0, client.in.readInt());
                assertTrue(answered.add(client.in.readLong()), "one reply per request");
            }
            for (int block : distinct) {
                java.util.Arrays.fill(model, block * 4096, block * 4096 + 4096, (byte) (block * 7 + 1));
                request(client, NbdProtocol.CMD_READ, 1_000_000L + block, (long) block * 4096, 4096, null);
            }
            for (int i = 0; i < distinct.size(); i++) {
                assertEquals(NbdProtocol.SIMPLE_REPLY_MAGIC, client.in.readInt());
                assertEquals(0, client.in.readInt());
                int block = (int) (client.in.readLong() - 1_000_000L);
                byte[] data = new byte[4096];
                client.in.readFully(data);
                assertArrayEquals(java.util.Arrays.copyOfRange(model, block * 4096, block * 4096 + 4096), data,
                    "read of block " + block);
            }
            request(client, NbdProtocol.CMD_DISC, 0, 0, 0, null);
        }
    }

    /** A client that leaves in the middle of a WRITE's payload: nothing of it reaches the export. */
    @net.jqwik.api.Example
    void aClientLeavingMidWriteChangesNothing() throws Exception {
        try (var client = connect()) {
            goTo(client, "mem");
            client.out.writeInt(NbdProtocol.REQUEST_MAGIC);
            client.out.writeShort(0);
            client.out.writeShort(NbdProtocol.CMD_WRITE);
            client.out.writeLong(1);
            client.out.writeLong(65536);
            client.out.writeInt(8192);
            byte[] part = new byte[100];
            java.util.Arrays.fill(part, (byte) 0x5a);
            client.out.write(part);
            client.out.flush();
        }
        Thread.sleep(200); // the server sees the end of the stream
        try (var client = NbdClient.connectTcp("127.0.0.1", server.tcpPort(), "mem", java.time.Duration.ofSeconds(5))) {
            var back = ByteBuffer.allocate(8192);
            client.read(65536, back);
            assertArrayEquals(java.util.Arrays.copyOfRange(model, 65536, 65536 + 8192), back.array());
        }
    }

    private static void assertTrue(boolean condition, String message) {
        org.junit.jupiter.api.Assertions.assertTrue(condition, message);
    }

    @Provide
    Arbitrary<List<byte[]>> options() {
        Arbitrary<Integer> numbers = Arbitraries.oneOf(Arbitraries.integers().between(0, 16),
            Arbitraries.of(Integer.MIN_VALUE, -1, 0x7fffffff));
        Arbitrary<byte[]> wellFormedInfo = Arbitraries.of("mem", "", "nope").map(name -> {
            byte[] bytes = name.getBytes();
            return ByteBuffer.allocate(4 + bytes.length + 4).putInt(bytes.length).put(bytes).putShort((short) 1)
                .putShort((short) 3).array();
        });
        Arbitrary<byte[]> data = Arbitraries.oneOf(Arbitraries.bytes().array(byte[].class).ofMaxSize(64), wellFormedInfo);
        return Combinators.combine(numbers, data).as((number, bytes) -> ByteBuffer.allocate(4 + bytes.length)
            .putInt(number).put(bytes).array()).list().ofMaxSize(8);
    }

    @Provide
    Arbitrary<List<Integer>> bursts() {
        return Arbitraries.integers().between(0, SIZE / 4096 - 1).list().ofMinSize(1).ofMaxSize(40);
    }

    @Provide
    Arbitrary<byte[]> garbage() {
        return Arbitraries.bytes().array(byte[].class).ofMaxSize(300);
    }

    @Provide
    Arbitrary<List<long[]>> requests() {
        Arbitrary<Long> types = Arbitraries.of(0L, 1L, 3L, 5L, 9L, 42L, 1L, 0L);
        Arbitrary<Long> offsets = Arbitraries.oneOf(Arbitraries.longs().between(0, SIZE),
            Arbitraries.longs().between(SIZE - 8192, SIZE + 8192), Arbitraries.of(-1L, Long.MAX_VALUE, (long) Integer.MAX_VALUE));
        Arbitrary<Long> lengths = Arbitraries.oneOf(Arbitraries.longs().between(0, 16384),
            Arbitraries.of(0L, 1L, (long) SIZE, (long) SIZE + 1, 4L << 20));
        Arbitrary<Long> fills = Arbitraries.longs().between(1, 255);
        return Combinators.combine(types, offsets, lengths, fills).as((t, o, l, f) -> new long[]{t, o, l, f}).list().ofMaxSize(12);
    }
}
