package fivenines.block.nbd;

import java.io.EOFException;
import java.io.IOException;
import javax.net.ssl.SSLContext;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

import static fivenines.block.nbd.NbdProtocol.*;

/**
 * An NBD client (fixed newstyle, NBD_OPT_GO, simple replies) for reaching other nodes' disks.
 *
 * <p>Any number of threads may call at once; their requests are pipelined on the one
 * connection and the replies matched by cookie. Requests larger than the server's maximum
 * block size are split. Every request must be answered within the timeout: when one is not
 * (a dead or stopped server, a full socket that never drains) the connection is closed, every
 * request on it fails, and so does every later one. Failures are {@link NbdErrorException}s
 * naming the server and export; the server's own refusals carry its errno, failures of the
 * connection carry EIO and may or may not have been carried out.
 */
public final class NbdClient implements AutoCloseable {
    private static final int DEFAULT_MAXIMUM_BLOCK = 32 << 20;

    private final String server;
    private final String export;
    private final SocketChannel channel;
    private final SSLContext tls;
    private final String host;
    private volatile NbdWire wire;
    private final Duration timeout;
    private final ReentrantLock sendLock = new ReentrantLock();
    private final ByteBuffer requestHeader = ByteBuffer.allocateDirect(28);
    private final ConcurrentHashMap<Long, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicLong cookies = new AtomicLong();
    private long size;
    private int transmissionFlags;
    private int maximumBlockSize = DEFAULT_MAXIMUM_BLOCK;
    private volatile String failure;

    private record Pending(String what, CompletableFuture<Void> done, ByteBuffer target, long deadline) {
    }

    private NbdClient(String server, String host, String export, SocketChannel channel, SSLContext tls, Duration timeout) {
        this.server = server;
        this.host = host;
        this.export = export;
        this.channel = channel;
        this.tls = tls;
        this.wire = new NbdWire.Plain(channel);
        this.timeout = timeout;
    }

    /** Connects over TCP and enters transmission with {@code export}; each step waits at most {@code timeout}. */
    public static NbdClient connectTcp(String host, int port, String export, Duration timeout) throws IOException {
        return connectTcp(host, port, export, timeout, null);
    }

    /**
     * Connects over TCP, upgrades to TLS first when {@code tls} is given (STARTTLS, presenting the
     * context's certificate), and enters transmission with {@code export}.
     */
    public static NbdClient connectTcp(String host, int port, String export, Duration timeout, SSLContext tls) throws IOException {
        var channel = SocketChannel.open(StandardProtocolFamily.INET);
        return open(host + ":" + port, host, export, channel, tls, new InetSocketAddress(host, port), timeout);
    }

    /** Connects over a Unix socket and enters transmission with {@code export}. */
    public static NbdClient connectUnix(Path socket, String export, Duration timeout) throws IOException {
        var channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        return open(socket.toString(), null, export, channel, null, UnixDomainSocketAddress.of(socket), timeout);
    }

    private static NbdClient open(String server, String host, String export, SocketChannel channel, SSLContext tls,
                                  SocketAddress address, Duration timeout) throws IOException {
        var client = new NbdClient(server, host, export, channel, tls, timeout);
        // the channel is blocking and has no read timeout of its own: a timer closes it if the handshake stalls
        Thread timer = Thread.ofVirtual().name("nbd-client-handshake-deadline-" + export).start(() -> {
            try {
                Thread.sleep(timeout);
                client.closeChannel();
            } catch (InterruptedException finished) {
                // the handshake ended in time
            }
        });
        try {
            if (address instanceof InetSocketAddress) {
                channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                channel.socket().connect(address, (int) Math.max(1, timeout.toMillis()));
            } else {
                channel.connect(address);
            }
            client.handshake();
        } catch (IOException e) {
            client.closeChannel();
            String reason = timer.isAlive() ? e.getMessage() : "no answer within " + timeout.toMillis() + " ms";
            String message = "cannot open NBD export '" + export + "' at " + server + ": " + reason;
            if (e instanceof NbdRefusedException refused) {
                throw new NbdRefusedException(message, refused.reply(), e);
            }
            throw new IOException(message, e);
        } finally {
            timer.interrupt();
        }
        // a platform thread waits in read() itself: one wake-up per reply, not two (see block/README.md)
        Thread.ofPlatform().daemon(true).name("nbd-client-replies-" + export).start(client::readReplies);
        Thread.ofVirtual().name("nbd-client-deadlines-" + export).start(client::watchDeadlines);
        return client;
    }

    private void handshake() throws IOException {
        ByteBuffer greeting = receive(18);
        if (greeting.getLong() != NBDMAGIC || greeting.getLong() != IHAVEOPT) {
            throw new IOException("the server does not speak newstyle NBD");
        }
        int serverFlags = Short.toUnsignedInt(greeting.getShort());
        if ((serverFlags & FLAG_FIXED_NEWSTYLE) == 0) {
            throw new IOException("the server does not speak fixed-newstyle NBD");
        }
        boolean noZeroes = (serverFlags & FLAG_NO_ZEROES) != 0;
        send(ByteBuffer.allocate(4).putInt(FLAG_C_FIXED_NEWSTYLE | (noZeroes ? FLAG_C_NO_ZEROES : 0)).flip());
        if (tls != null) {
            startTls();
        }
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        send(ByteBuffer.allocate(16 + 4 + name.length + 4)
            .putLong(IHAVEOPT).putInt(OPT_GO).putInt(4 + name.length + 4)
            .putInt(name.length).put(name).putShort((short) 1).putShort((short) INFO_BLOCK_SIZE).flip());
        boolean sized = false;
        while (true) {
            ByteBuffer header = receive(20);
            if (header.getLong() != OPTION_REPLY_MAGIC) {
                throw new IOException("the server sent a bad option reply");
            }
            header.getInt();
            int type = header.getInt();
            int length = header.getInt();
            if (length < 0 || length > NbdHandshake.MAX_OPTION_LENGTH) {
                throw new IOException("the server sent an option reply of " + Integer.toUnsignedString(length) + " bytes");
            }
            ByteBuffer data = receive(length);
            if (type == REP_ACK) {
                break;
            }
            if (type < 0) {
                throw new NbdRefusedException("the server refused: " + optionErrorName(type) + " "
                    + StandardCharsets.UTF_8.decode(data), type, null);
            }
            if (type == REP_INFO && length >= 2) {
                int info = Short.toUnsignedInt(data.getShort());
                if (info == INFO_EXPORT && length >= 12) {
                    size = data.getLong();
                    transmissionFlags = Short.toUnsignedInt(data.getShort());
                    sized = true;
                } else if (info == INFO_BLOCK_SIZE && length >= 14) {
                    data.getInt();
                    data.getInt();
                    maximumBlockSize = Math.max(512, Math.min(DEFAULT_MAXIMUM_BLOCK, data.getInt()));
                }
            }
        }
        if (!sized) {
            throw new IOException("the server did not say the size of the export");
        }
    }

    private void startTls() throws IOException {
        send(ByteBuffer.allocate(16).putLong(IHAVEOPT).putInt(OPT_STARTTLS).putInt(0).flip());
        ByteBuffer header = receive(20);
        if (header.getLong() != OPTION_REPLY_MAGIC) {
            throw new IOException("the server sent a bad option reply");
        }
        header.getInt();
        int type = header.getInt();
        int length = header.getInt();
        if (length < 0 || length > NbdHandshake.MAX_OPTION_LENGTH) {
            throw new IOException("the server sent an option reply of " + Integer.toUnsignedString(length) + " bytes");
        }
        ByteBuffer data = receive(length);
        if (type != REP_ACK) {
            throw new NbdRefusedException("the server refused STARTTLS: " + optionErrorName(type) + " "
                + StandardCharsets.UTF_8.decode(data), type, null);
        }
        var engine = tls.createSSLEngine(host, channel.socket().getPort());
        engine.setUseClientMode(true);
        wire = NbdWire.Tls.handshake(channel, engine);
    }

    private static String optionErrorName(int type) {
        return switch (type) {
            case REP_ERR_UNSUP -> "unsupported";
            case REP_ERR_POLICY -> "forbidden by policy";
            case REP_ERR_INVALID -> "invalid";
            case REP_ERR_TLS_REQD -> "TLS required";
            case REP_ERR_UNKNOWN -> "no such export";
            default -> "error 0x" + Integer.toHexString(type);
        };
    }

    public String server() {
        return server;
    }

    public String export() {
        return export;
    }

    public long size() {
        return size;
    }

    public boolean readOnly() {
        return (transmissionFlags & TRANSMISSION_READ_ONLY) != 0;
    }

    /** Whether the server keeps flushes consistent across connections, so several may be used at once. */
    public boolean canMultiConn() {
        return (transmissionFlags & TRANSMISSION_CAN_MULTI_CONN) != 0;
    }

    /** Largest single request the server takes; longer reads and writes are split. */
    public int maximumBlockSize() {
        return maximumBlockSize;
    }

    /** Why the connection is no longer usable, or null while it is. */
    public String failure() {
        return failure;
    }

    /** Fills the remaining bytes of {@code target} from {@code offset}. */
    public void read(long offset, ByteBuffer target) throws NbdErrorException {
        var parts = new ArrayList<Pending>();
        for (int done = 0, length = target.remaining(); done < length; ) {
            int part = Math.min(maximumBlockSize, length - done);
            ByteBuffer slice = target.slice(target.position() + done, part);
            parts.add(submit(CMD_READ, 0, offset + done, part, null, slice));
            done += part;
        }
        awaitAll(parts);
        target.position(target.limit());
    }

    /** Writes the remaining bytes of {@code source}; with {@code fua} they are on stable storage when this returns. */
    public void write(long offset, ByteBuffer source, boolean fua) throws NbdErrorException {
        var parts = new ArrayList<Pending>();
        for (int done = 0, length = source.remaining(); done < length; ) {
            int part = Math.min(maximumBlockSize, length - done);
            parts.add(submit(CMD_WRITE, fua ? CMD_FLAG_FUA : 0, offset + done, part, source.slice(source.position() + done, part), null));
            done += part;
        }
        awaitAll(parts);
        source.position(source.limit());
    }

    /**
     * Sends a read of {@code target}'s remaining bytes and returns at once: the future completes, on
     * the connection's reply reader, once they are filled (failing as {@link #read} would throw). Null
     * when the read is longer than the server takes in one request ({@link #read} splits it).
     */
    public CompletableFuture<Void> startRead(long offset, ByteBuffer target) {
        if (target.remaining() > maximumBlockSize) {
            return null;
        }
        return started(CMD_READ, 0, offset, target.remaining(), null, target.slice());
    }

    /** Sends a write of {@code source}'s remaining bytes and returns at once; null as for {@link #startRead}. */
    public CompletableFuture<Void> startWrite(long offset, ByteBuffer source, boolean fua) {
        if (source.remaining() > maximumBlockSize) {
            return null;
        }
        return started(CMD_WRITE, fua ? CMD_FLAG_FUA : 0, offset, source.remaining(), source.slice(), null);
    }

    private CompletableFuture<Void> started(int type, int flags, long offset, int length, ByteBuffer payload, ByteBuffer target) {
        try {
            return submit(type, flags, offset, length, payload, target).done();
        } catch (NbdErrorException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    public void flush() throws NbdErrorException {
        awaitAll(List.of(submit(CMD_FLUSH, 0, 0, 0, null, null)));
    }

    public void trim(long offset, long length) throws NbdErrorException {
        awaitAll(List.of(submit(CMD_TRIM, 0, offset, checkedLength(length), null, null)));
    }

    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws NbdErrorException {
        int flags = (noHole ? CMD_FLAG_NO_HOLE : 0) | (fua ? CMD_FLAG_FUA : 0);
        awaitAll(List.of(submit(CMD_WRITE_ZEROES, flags, offset, checkedLength(length), null, null)));
    }

    private int checkedLength(long length) throws NbdErrorException {
        if (length < 0 || length > 0xFFFF_FFFFL) {
            throw new NbdErrorException(EINVAL, "a request of " + length + " bytes cannot be sent to " + describe());
        }
        return (int) length;
    }

    private String describe() {
        return "NBD server " + server + " export '" + export + "'";
    }

    private static String commandName(int type) {
        return switch (type) {
            case CMD_READ -> "READ";
            case CMD_WRITE -> "WRITE";
            case CMD_FLUSH -> "FLUSH";
            case CMD_TRIM -> "TRIM";
            case CMD_WRITE_ZEROES -> "WRITE_ZEROES";
            default -> "command " + type;
        };
    }

    private Pending submit(int type, int flags, long offset, int length, ByteBuffer payload, ByteBuffer target)
        throws NbdErrorException {
        String broken = failure;
        if (broken != null) {
            throw new NbdErrorException(EIO, describe() + ": the connection failed earlier (" + broken + "); nothing was sent");
        }
        long cookie = cookies.incrementAndGet();
        String what = commandName(type) + " of " + Integer.toUnsignedString(length) + " bytes at " + offset;
        var request = new Pending(what, new CompletableFuture<>(), target, System.nanoTime() + timeout.toNanos());
        pending.put(cookie, request);
        sendLock.lock();
        try {
            requestHeader.clear().putInt(REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie)
                .putLong(offset).putInt(length).flip();
            if (payload == null) {
                send(requestHeader);
            } else {
                send(requestHeader, payload);
            }
        } catch (IOException e) {
            fail("sending failed: " + e.getMessage());
        } finally {
            sendLock.unlock();
        }
        return request;
    }

    private void awaitAll(List<Pending> requests) throws NbdErrorException {
        for (Pending request : requests) {
            try {
                // the deadline watcher fails overdue requests; the extra second only guards against it being late
                request.done().get(timeout.toMillis() + 1000, TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof NbdErrorException refused) {
                    throw refused;
                }
                throw new NbdErrorException(EIO, describe() + ": " + request.what() + " failed: " + e.getCause().getMessage());
            } catch (TimeoutException e) {
                fail("no answer within " + timeout.toMillis() + " ms");
                throw new NbdErrorException(EIO, describe() + ": " + request.what() + " got no answer within "
                    + timeout.toMillis() + " ms; the connection is closed and the request may or may not have been carried out");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new NbdErrorException(EIO, describe() + ": interrupted waiting for " + request.what());
            }
        }
    }

    private void readReplies() {
        ByteBuffer header = ByteBuffer.allocateDirect(16);
        try {
            while (true) {
                header.clear();
                receiveInto(header);
                header.flip();
                int magic = header.getInt();
                if (magic != SIMPLE_REPLY_MAGIC) {
                    throw new IOException("unexpected reply magic 0x" + Integer.toHexString(magic));
                }
                int errno = header.getInt();
                long cookie = header.getLong();
                Pending request = pending.remove(cookie);
                if (request == null) {
                    throw new IOException("a reply for unknown request " + cookie);
                }
                if (errno != 0) {
                    request.done().completeExceptionally(new NbdErrorException(errno, describe() + ": " + request.what()
                        + " failed with " + NbdProtocol.errnoName(errno)));
                    continue;
                }
                if (request.target() != null) {
                    receiveInto(request.target());
                }
                request.done().complete(null);
            }
        } catch (IOException e) {
            fail(failure != null ? failure : "the connection failed: " + e.getMessage());
        }
    }

    /** Fails everything when the oldest request is overdue: replies come in any order, so one late reply means a stuck server. */
    private void watchDeadlines() {
        long tick = Math.max(20, timeout.toMillis() / 4);
        while (failure == null) {
            try {
                Thread.sleep(tick);
            } catch (InterruptedException e) {
                return;
            }
            long now = System.nanoTime();
            for (Pending request : pending.values()) {
                if (now - request.deadline() > 0) {
                    fail("no answer within " + timeout.toMillis() + " ms to " + request.what());
                    break;
                }
            }
        }
    }

    private void fail(String reason) {
        if (failure == null) {
            failure = reason;
        }
        closeChannel();
        for (var entry : pending.entrySet()) {
            if (pending.remove(entry.getKey()) != null) {
                entry.getValue().done().completeExceptionally(new NbdErrorException(EIO, describe() + ": " + entry.getValue().what()
                    + " may or may not have been carried out: " + reason));
            }
        }
    }

    private void send(ByteBuffer... buffers) throws IOException {
        long remaining = 0;
        for (ByteBuffer buffer : buffers) {
            remaining += buffer.remaining();
        }
        if (remaining > 0) {
            wire.write(buffers);
        }
    }

    private ByteBuffer receive(int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        receiveInto(buffer);
        return buffer.flip();
    }

    private void receiveInto(ByteBuffer target) throws IOException {
        while (target.hasRemaining()) {
            if (wire.read(target) < 0) {
                throw new EOFException("the server closed the connection");
            }
        }
    }

    private void closeChannel() {
        wire.close();
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing a broken connection
        }
    }

    /** Waits (at most the timeout) for the requests in flight to be answered, says goodbye (NBD_CMD_DISC) and closes. */
    @Override
    public void close() {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!pending.isEmpty() && failure == null && System.nanoTime() - deadline < 0) {
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (failure == null) {
            sendLock.lock();
            try {
                requestHeader.clear().putInt(REQUEST_MAGIC).putShort((short) 0).putShort((short) CMD_DISC)
                    .putLong(cookies.incrementAndGet()).putLong(0).putInt(0).flip();
                send(requestHeader);
            } catch (IOException ignored) {
                // closing anyway
            } finally {
                sendLock.unlock();
            }
        }
        fail("the client was closed");
    }
}
