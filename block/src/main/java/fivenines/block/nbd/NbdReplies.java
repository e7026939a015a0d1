package fivenines.block.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.ReentrantLock;

import static fivenines.block.nbd.NbdProtocol.*;

/**
 * Replies of the transmission phase. Requests complete on many threads; each reply (or
 * structured chunk) goes out whole, header and payload in one gathering write, under one lock.
 */
final class NbdReplies {
    private static final int MAX_ERROR_TEXT = 4096;
    private final ReentrantLock lock = new ReentrantLock();
    private final ByteBuffer header = ByteBuffer.allocateDirect(32);
    private final NbdWire wire;

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

    private void send(ByteBuffer payload) throws BrokenConnection {
        try {
            if (payload == null || !payload.hasRemaining()) {
                wire.write(header);
            } else {
                wire.write(header, payload);
            }
        } catch (IOException e) {
            throw new BrokenConnection(e);
        }
    }

    private static byte[] truncated(String message) {
        byte[] text = (message == null ? "I/O error" : message).getBytes(StandardCharsets.UTF_8);
        return text.length <= MAX_ERROR_TEXT ? text : java.util.Arrays.copyOf(text, MAX_ERROR_TEXT);
    }
}
