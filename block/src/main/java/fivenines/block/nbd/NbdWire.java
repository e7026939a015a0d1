package fivenines.block.nbd;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSession;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * A connection's byte stream: a socket channel (TCP or Unix), plain or with TLS after STARTTLS.
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

    /**
     * TLS over the socket channel through an {@link SSLEngine}. Many records go to the kernel in one
     * write and come from it in one read (an {@code SSLSocket} makes a system call per 16 KiB record),
     * and the engine works on heap buffers only, where the JDK's AES-GCM is fastest: a direct buffer is
     * copied into a heap one first. One thread reads and writers take turns, as for {@link Plain};
     * {@code wrap} and {@code unwrap} may run at the same time, and the reader wraps (a TLS 1.3 key
     * update asks for an answer) only under the writers' lock.
     */
    final class Tls implements NbdWire {
        private static final int STAGE = 256 * 1024;
        private final SocketChannel channel;
        private final SSLEngine engine;
        private final Object writeLock = new Object();
        /** Records received and not yet decrypted; kept ready for writing into. */
        private final ByteBuffer netIn;
        /** Decrypted bytes not yet handed out; kept ready for reading from. */
        private final ByteBuffer appIn;
        /** Plain bytes waiting to be encrypted, and the records made of them. */
        private final ByteBuffer stage = ByteBuffer.allocate(STAGE);
        private final ByteBuffer netOut;
        private boolean inboundClosed;

        private Tls(SocketChannel channel, SSLEngine engine) {
            this.channel = channel;
            this.engine = engine;
            int packet = engine.getSession().getPacketBufferSize();
            int app = engine.getSession().getApplicationBufferSize();
            this.netIn = ByteBuffer.allocate(Math.max(STAGE, 2 * packet));
            this.appIn = ByteBuffer.allocate(Math.max(STAGE, 2 * app)).flip();
            this.netOut = ByteBuffer.allocate(STAGE + 2 * packet);
        }

        /**
         * Runs the TLS handshake on a blocking channel and returns the wire; the engine is set up
         * (client or server mode, client authentication) by the caller. A timer of the caller closes
         * the channel if the peer stalls.
         */
        static Tls handshake(SocketChannel channel, SSLEngine engine) throws IOException {
            var wire = new Tls(channel, engine);
            wire.runHandshake();
            return wire;
        }

        /** The session agreed on, for checking the peer's certificate. */
        SSLSession session() {
            return engine.getSession();
        }

        private void runHandshake() throws IOException {
            engine.beginHandshake();
            ByteBuffer none = ByteBuffer.allocate(0);
            ByteBuffer scratch = ByteBuffer.allocate(engine.getSession().getApplicationBufferSize());
            while (true) {
                switch (engine.getHandshakeStatus()) {
                    case FINISHED, NOT_HANDSHAKING -> {
                        return;
                    }
                    case NEED_TASK -> runTasks();
                    case NEED_WRAP -> {
                        SSLEngineResult result = engine.wrap(none, netOut);
                        if (result.getStatus() == SSLEngineResult.Status.CLOSED && netOut.position() == 0) {
                            throw new SSLException("the TLS handshake was closed");
                        }
                        sendNetOut();
                    }
                    case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                        netIn.flip();
                        SSLEngineResult result;
                        try {
                            result = engine.unwrap(netIn, scratch);
                        } finally {
                            netIn.compact();
                        }
                        if (scratch.position() > 0) {
                            throw new SSLException("the peer sent data during the TLS handshake");
                        }
                        switch (result.getStatus()) {
                            case BUFFER_UNDERFLOW -> receive();
                            case CLOSED -> throw new SSLException("the peer closed the TLS handshake");
                            default -> { }
                        }
                    }
                }
            }
        }

        private void runTasks() {
            Runnable task;
            while ((task = engine.getDelegatedTask()) != null) {
                task.run();
            }
        }

        private void receive() throws IOException {
            if (!netIn.hasRemaining()) {
                throw new SSLException("a TLS record larger than " + netIn.capacity() + " bytes");
            }
            if (channel.read(netIn) < 0) {
                throw new EOFException("the peer closed the connection during the TLS handshake");
            }
        }

        @Override
        public int read(ByteBuffer target) throws IOException {
            while (!appIn.hasRemaining()) {
                if (inboundClosed || !decrypt()) {
                    return -1;
                }
            }
            int n = Math.min(appIn.remaining(), target.remaining());
            target.put(target.position(), appIn, appIn.position(), n);
            target.position(target.position() + n);
            appIn.position(appIn.position() + n);
            return n;
        }

        /** Decrypts what has arrived, reading from the channel until at least one byte comes out; false at the end. */
        private boolean decrypt() throws IOException {
            appIn.clear();
            try {
                while (true) {
                    netIn.flip();
                    SSLEngineResult result;
                    try {
                        do {
                            result = engine.unwrap(netIn, appIn);
                            handleHandshake(result);
                        } while (result.getStatus() == SSLEngineResult.Status.OK && netIn.hasRemaining());
                    } finally {
                        netIn.compact();
                    }
                    if (result.getStatus() == SSLEngineResult.Status.CLOSED) {
                        inboundClosed = true;
                    }
                    if (appIn.position() > 0) {
                        return true;
                    }
                    if (inboundClosed) {
                        return false;
                    }
                    if (result.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW && !netIn.hasRemaining()) {
                        throw new SSLException("a TLS record larger than " + netIn.capacity() + " bytes");
                    }
                    if (channel.read(netIn) < 0) {
                        return false;
                    }
                }
            } finally {
                appIn.flip();
            }
        }

        /** After the handshake: tasks, and an answer the engine wants sent (a key update). */
        private void handleHandshake(SSLEngineResult result) throws IOException {
            var status = result.getHandshakeStatus();
            if (status == SSLEngineResult.HandshakeStatus.NEED_TASK) {
                runTasks();
                status = engine.getHandshakeStatus();
            }
            if (status == SSLEngineResult.HandshakeStatus.NEED_WRAP) {
                synchronized (writeLock) {
                    encryptStage();
                    sendNetOut();
                }
            }
        }

        @Override
        public void write(ByteBuffer... buffers) throws IOException {
            synchronized (writeLock) {
                for (ByteBuffer buffer : buffers) {
                    while (buffer.hasRemaining()) {
                        if (!stage.hasRemaining()) {
                            encryptStage();
                        }
                        int n = Math.min(stage.remaining(), buffer.remaining());
                        stage.put(stage.position(), buffer, buffer.position(), n);
                        stage.position(stage.position() + n);
                        buffer.position(buffer.position() + n);
                    }
                }
                encryptStage();
                sendNetOut();
            }
        }

        /** Encrypts the staged bytes into records, sending records out whenever their buffer fills. */
        private void encryptStage() throws IOException {
            stage.flip();
            try {
                do {
                    SSLEngineResult result = engine.wrap(stage, netOut);
                    switch (result.getStatus()) {
                        case BUFFER_OVERFLOW -> sendNetOut();
                        case CLOSED -> throw new SSLException("the TLS connection is closed");
                        default -> { }
                    }
                    if (result.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_TASK) {
                        runTasks();
                    }
                } while (stage.hasRemaining() || engine.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.NEED_WRAP);
            } finally {
                stage.clear();
            }
        }

        private void sendNetOut() throws IOException {
            netOut.flip();
            try {
                while (netOut.hasRemaining()) {
                    channel.write(netOut);
                }
            } finally {
                netOut.clear();
            }
        }

        @Override
        public void close() {
            engine.closeOutbound();
            try {
                channel.close();
            } catch (IOException ignored) {
                // the peer is gone either way
            }
        }
    }
}
