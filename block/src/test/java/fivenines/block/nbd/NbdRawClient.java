package fivenines.block.nbd;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.time.Duration;

import static fivenines.block.nbd.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** A hand-written client for what a well-behaved one never sends. */
record NbdRawClient(Socket socket, DataInputStream in, DataOutputStream out) implements AutoCloseable {
    static NbdRawClient connect(NbdServer server, Duration timeout) throws IOException {
        var socket = new Socket("127.0.0.1", server.tcpPort());
        socket.setSoTimeout((int) timeout.toMillis());
        return new NbdRawClient(socket, new DataInputStream(socket.getInputStream()), new DataOutputStream(socket.getOutputStream()));
    }

    void greet() throws IOException {
        assertEquals(NBDMAGIC, in.readLong());
        assertEquals(IHAVEOPT, in.readLong());
        in.readShort();
        out.writeInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
    }

    void option(int option, byte[] data) throws IOException {
        out.writeLong(IHAVEOPT);
        out.writeInt(option);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    /** Reads option replies up to a final one (ACK or an error) and returns its type. */
    int finalReply(int option) throws IOException {
        while (true) {
            assertEquals(OPTION_REPLY_MAGIC, in.readLong());
            assertEquals(option, in.readInt());
            int type = in.readInt();
            in.readNBytes(in.readInt());
            if (type == REP_ACK || type < 0) {
                return type;
            }
        }
    }

    void go(String export) throws IOException {
        byte[] name = export.getBytes();
        option(OPT_GO, ByteBuffer.allocate(4 + name.length + 2).putInt(name.length).put(name).putShort((short) 0).array());
        assertEquals(REP_ACK, finalReply(OPT_GO));
    }

    void request(int type, long cookie, long offset, int length) throws IOException {
        request(0, type, cookie, offset, length);
    }

    void request(int flags, int type, long cookie, long offset, int length) throws IOException {
        out.writeInt(REQUEST_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(cookie);
        out.writeLong(offset);
        out.writeInt(length);
    }

    /** The errno of the next simple reply, after checking its cookie. */
    int simpleReply(long cookie) throws IOException {
        assertEquals(SIMPLE_REPLY_MAGIC, in.readInt());
        int errno = in.readInt();
        assertEquals(cookie, in.readLong());
        return errno;
    }

    /** One chunk of a structured reply. */
    record Chunk(int flags, int type, long cookie, ByteBuffer payload) {
        boolean done() {
            return (flags & REPLY_FLAG_DONE) != 0;
        }
    }

    Chunk chunk() throws IOException {
        assertEquals(STRUCTURED_REPLY_MAGIC, in.readInt());
        return chunkAfterMagic();
    }

    /**
     * The next reply, simple or a structured chunk, as a chunk (a simple one has type
     * REPLY_TYPE_NONE, the DONE flag, and its errno as payload). Replies come in any order; a
     * simple reply is read as carrying no data, so this is for replies that have none.
     */
    Chunk anyReply() throws IOException {
        int magic = in.readInt();
        if (magic == SIMPLE_REPLY_MAGIC) {
            int errno = in.readInt();
            return new Chunk(REPLY_FLAG_DONE, REPLY_TYPE_NONE, in.readLong(), ByteBuffer.allocate(4).putInt(errno).flip());
        }
        assertEquals(STRUCTURED_REPLY_MAGIC, magic);
        return chunkAfterMagic();
    }

    private Chunk chunkAfterMagic() throws IOException {
        int flags = in.readUnsignedShort();
        int type = in.readUnsignedShort();
        long cookie = in.readLong();
        int length = in.readInt();
        return new Chunk(flags, type, cookie, ByteBuffer.wrap(in.readNBytes(length)));
    }

    /** True once the server has closed: EOF, or a reset. */
    boolean closedByServer() throws IOException {
        try {
            return in.read() < 0;
        } catch (SocketException reset) {
            return true;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
