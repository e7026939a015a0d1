package fivenines.block.nbd;

import javax.net.ssl.SSLSocket;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * A connection's byte stream: a socket channel (TCP or Unix), or TLS streams after STARTTLS.
 * One thread reads; writers take turns (the reply lock), so neither side needs its own lock.
 */
sealed interface NbdWire permits NbdWire.Plain, NbdWire.Tls {

    /** Reads what is there into {@code target}, blocking for at least one byte; -1 at the end. */
    int read(ByteBuffer target) throws IOException;

    /** Writes every remaining byte of the buffers, in order. */
    void write(ByteBuffer... buffers) throws IOException;

    void close();

    /** A socket channel in blocking mode: gathering writes, and direct buffers go straight to the kernel. */
    record Plain(SocketChannel channel) implements NbdWire {
        @Override
        public int read(ByteBuffer target) throws IOException {
            return channel.read(target);
        }

        @Override
        public void write(ByteBuffer... buffers) throws IOException {
            long remaining = 0;
            for (ByteBuffer buffer : buffers) {
                remaining += buffer.remaining();
            }
            while (remaining > 0) {
                remaining -= channel.write(buffers);
            }
        }

        @Override
        public void close() {
            try {
                channel.close();
            } catch (IOException ignored) {
                // the peer is gone either way
            }
        }
    }

    /** TLS over a socket: streams, so bytes pass through arrays. */
    final class Tls implements NbdWire {
        private static final int CHUNK = 64 * 1024;
        private final SSLSocket socket;
        private final InputStream in;
        private final OutputStream out;
        private final byte[] readChunk = new byte[CHUNK];
        private final byte[] writeChunk = new byte[CHUNK];

        Tls(SSLSocket socket) throws IOException {
            this.socket = socket;
            this.in = socket.getInputStream();
            this.out = new BufferedOutputStream(socket.getOutputStream(), CHUNK);
        }

        @Override
        public int read(ByteBuffer target) throws IOException {
            if (target.hasArray()) {
                int n = in.read(target.array(), target.arrayOffset() + target.position(), target.remaining());
                if (n > 0) {
                    target.position(target.position() + n);
                }
                return n;
            }
            int n = in.read(readChunk, 0, Math.min(CHUNK, target.remaining()));
            if (n > 0) {
                target.put(readChunk, 0, n);
            }
            return n;
        }

        @Override
        public void write(ByteBuffer... buffers) throws IOException {
            for (ByteBuffer buffer : buffers) {
                if (buffer.hasArray()) {
                    out.write(buffer.array(), buffer.arrayOffset() + buffer.position(), buffer.remaining());
                    buffer.position(buffer.limit());
                } else {
                    while (buffer.hasRemaining()) {
                        int n = Math.min(CHUNK, buffer.remaining());
                        buffer.get(writeChunk, 0, n);
                        out.write(writeChunk, 0, n);
                    }
                }
            }
            out.flush();
        }

        @Override
        public void close() {
            try {
                socket.close();
            } catch (IOException ignored) {
                // the peer is gone either way
            }
        }
    }
}
