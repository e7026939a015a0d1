package fivenines.block.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Buffered reading of NBD frames from a wire. Big payloads go from the socket straight into
 * their own buffer; only headers and small payloads pass through this one.
 */
final class NbdInput {
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(64 * 1024).flip();
    private NbdWire wire;

    NbdInput(NbdWire wire) {
        this.wire = wire;
    }

    /** Reads from another wire from now on (after STARTTLS); nothing may be left unread on the old one. */
    void switchTo(NbdWire next) throws IOException {
        if (buffer.hasRemaining()) {
            throw new IOException("the client sent data before the TLS handshake");
        }
        wire = next;
    }

    /** Whether bytes of a further frame have already arrived. */
    boolean hasBuffered() {
        return buffer.hasRemaining();
    }

    /** How many bytes have arrived and are not read yet. */
    int buffered() {
        return buffer.remaining();
    }

    private void need(int count) throws IOException {
        if (buffer.remaining() >= count) {
            return;
        }
        buffer.compact();
        try {
            while (buffer.position() < count) {
                if (wire.read(buffer) < 0) {
                    throw new EOFException("the client closed the connection");
                }
            }
        } finally {
            buffer.flip();
        }
    }

    short readShort() throws IOException {
        need(2);
        return buffer.getShort();
    }

    int readInt() throws IOException {
        need(4);
        return buffer.getInt();
    }

    long readLong() throws IOException {
        need(8);
        return buffer.getLong();
    }

    /** Fills the remaining bytes of {@code target}. */
    void readFully(ByteBuffer target) throws IOException {
        if (buffer.hasRemaining()) {
            int n = Math.min(buffer.remaining(), target.remaining());
            target.put(buffer.slice(buffer.position(), n));
            buffer.position(buffer.position() + n);
        }
        while (target.hasRemaining()) {
            if (wire.read(target) < 0) {
                throw new EOFException("the client closed the connection in the middle of a request");
            }
        }
    }

    byte[] readBytes(int length) throws IOException {
        var bytes = ByteBuffer.allocate(length);
        readFully(bytes);
        return bytes.array();
    }
}
