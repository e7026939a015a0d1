package fivenines.block.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.ReentrantLock;

import static fivenines.block.nbd.NbdProtocol.*;

/**
 * Replies of the transmission phase. Requests complete on many threads; each reply (or
 * structured chunk) goes out whole, header and payload in one gathering write, under one lock.
 *
 * <p>While corked, small replies collect in a buffer and leave together: when the client has
 * sent a burst of requests, their replies then cost one system call instead of one each. The
 * reader uncorks before it waits for the client, so a reply is never held back while nothing
 * else is coming.
 */
final class NbdReplies {
    private static final int MAX_ERROR_TEXT = 4096;
    private final ReentrantLock lock = new ReentrantLock();
    private static final int CORK_CAPACITY = 256 * 1024;
    private final ByteBuffer header = ByteBuffer.allocateDirect(32);
    private final ByteBuffer corked = ByteBuffer.allocateDirect(CORK_CAPACITY);
    private final NbdWire wire;
    private boolean corking;

    NbdReplies(NbdWire wire) {
        this.wire = wire;
    }

    void simple(long cookie, int errno) throws IOException {
        simple(cookie, errno, null);
    }

    void simple(long cookie, int errno, ByteBuffer data) throws IOException {
        lock.lock();
        try {
            header.clear().putInt(SIMPLE_REPLY_MAGIC).putInt(errno).putLong(cookie).flip();
            send(data);
        } finally {
            lock.unlock();
        }
    }

    void offsetData(long cookie, long offset, ByteBuffer data, boolean last) throws IOException {
        lock.lock();
        try {
            chunkHeader(cookie, last, REPLY_TYPE_OFFSET_DATA, 8 + data.remaining()).putLong(offset).flip();
            send(data);
        } finally {
            lock.unlock();
        }
    }

    void offsetHole(long cookie, long offset, int length, boolean last) throws IOException {
        lock.lock();
        try {
            chunkHeader(cookie, last, REPLY_TYPE_OFFSET_HOLE, 12).putLong(offset).putInt(length).flip();
            send(null);
        } finally {
            lock.unlock();
        }
    }

    /** One BLOCK_STATUS chunk: the context id, then (length, flags) pairs. */
    void blockStatus(long cookie, int contextId, int[] lengthsAndFlags) throws IOException {
        var payload = ByteBuffer.allocate(4 + lengthsAndFlags.length * 4).putInt(contextId);
        for (int value : lengthsAndFlags) {
            payload.putInt(value);
        }
        chunk(cookie, REPLY_TYPE_BLOCK_STATUS, payload.flip());
    }

    /** The final chunk of a failed structured reply. */
    void error(long cookie, int errno, String message) throws IOException {
        byte[] text = truncated(message);
        chunk(cookie, REPLY_TYPE_ERROR, ByteBuffer.allocate(6 + text.length).putInt(errno).putShort((short) text.length)
            .put(text).flip());
    }

    /** The final chunk of a READ that failed at {@code offset}. */
    void errorAt(long cookie, int errno, String message, long offset) throws IOException {
        byte[] text = truncated(message);
        chunk(cookie, REPLY_TYPE_ERROR_OFFSET, ByteBuffer.allocate(14 + text.length).putInt(errno)
            .putShort((short) text.length).put(text).putLong(offset).flip());
    }

    private void chunk(long cookie, int type, ByteBuffer payload) throws IOException {
        lock.lock();
        try {
            chunkHeader(cookie, true, type, payload.remaining()).flip();
            send(payload);
        } finally {
            lock.unlock();
        }
    }

    private ByteBuffer chunkHeader(long cookie, boolean last, int type, int length) {
        return header.clear().putInt(STRUCTURED_REPLY_MAGIC).putShort((short) (last ? REPLY_FLAG_DONE : 0))
            .putShort((short) type).putLong(cookie).putInt(length);
    }

    /** A reply could not be sent: the connection is broken (unlike an export's failure, which is replied). */
    static final class BrokenConnection extends IOException {
        BrokenConnection(IOException cause) {
            super("cannot send a reply: " + cause.getMessage(), cause);
        }
    }

    /** Corks or uncorks; uncorking sends what collected. */
    void corked(boolean cork) throws IOException {
        lock.lock();
        try {
            corking = cork;
            if (!cork && corked.position() > 0) {
                try {
                    wire.write(corked.flip());
                } catch (IOException e) {
                    throw new BrokenConnection(e);
                } finally {
                    corked.clear();
                }
            }
        } finally {
            lock.unlock();
        }
    }

    private void send(ByteBuffer payload) throws BrokenConnection {
        int payloadLength = payload == null ? 0 : payload.remaining();
        try {
            if (corking && header.remaining() + payloadLength <= corked.remaining()) {
                corked.put(header);
                if (payload != null) {
                    corked.put(payload);
                }
            } else if (corked.position() > 0) {
                // what collected goes first, in the same system call
                wire.write(corked.flip(), header, payload == null ? ByteBuffer.allocate(0) : payload);
                corked.clear();
            } else if (payloadLength == 0) {
                wire.write(header);
            } else {
                wire.write(header, payload);
            }
        } catch (IOException e) {
            corked.clear();
            throw new BrokenConnection(e);
        }
    }

    private static byte[] truncated(String message) {
        byte[] text = (message == null ? "I/O error" : message).getBytes(StandardCharsets.UTF_8);
        return text.length <= MAX_ERROR_TEXT ? text : java.util.Arrays.copyOf(text, MAX_ERROR_TEXT);
    }
}
