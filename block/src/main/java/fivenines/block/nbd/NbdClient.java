package fivenines.block.nbd;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

import static fivenines.block.nbd.NbdProtocol.*;

/**
 * An NBD client (fixed newstyle, simple replies) for the volume engine to reach other nodes'
 * physical volumes. Requests from many threads are pipelined on one connection; each waits
 * at most the configured timeout, after which the connection is closed and every request on
 * it fails, so I/O to a dead server ends instead of hanging.
 */
public final class NbdClient implements AutoCloseable {
    private final String server;
    private final String export;
    private final AutoCloseable connection;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final Duration timeout;
    private final ReentrantLock writeLock = new ReentrantLock();
    private final ConcurrentHashMap<Long, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicLong cookies = new AtomicLong();
    private final long size;
    private final int flags;
    private volatile IOException failure;

    private record Pending(CompletableFuture<Void> done, ByteBuffer target) {
    }

    private NbdClient(String server, String export, AutoCloseable connection, InputStream input, OutputStream output,
                      Duration timeout) throws IOException {
        this.server = server;
        this.export = export;
        this.connection = connection;
        this.in = new DataInputStream(new BufferedInputStream(input, 256 * 1024));
        this.out = new DataOutputStream(new BufferedOutputStream(output, 256 * 1024));
        this.timeout = timeout;
        long[] negotiated = handshake();
        this.size = negotiated[0];
        this.flags = (int) negotiated[1];
        Thread.ofVirtual().name("nbd-client-" + export).start(this::readReplies);
    }

    public static NbdClient connectTcp(String host, int port, String export, Duration timeout) throws IOException {
        var socket = new Socket();
        try {
            socket.connect(new InetSocketAddress(host, port), (int) timeout.toMillis());
            socket.setTcpNoDelay(true);
            socket.setSoTimeout((int) timeout.toMillis());
            var client = new NbdClient(host + ":" + port, export, socket, socket.getInputStream(), socket.getOutputStream(), timeout);
            socket.setSoTimeout(0); // replies may be far apart; each request has its own timeout
            return client;
        } catch (IOException e) {
            socket.close();
            throw new IOException("cannot open NBD export '" + export + "' at " + host + ":" + port + ": " + e.getMessage(), e);
        }
    }

    public static NbdClient connectUnix(Path socketPath, String export, Duration timeout) throws IOException {
        var channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            channel.connect(UnixDomainSocketAddress.of(socketPath));
            return new NbdClient(socketPath.toString(), export, channel, Channels.newInputStream(channel),
                Channels.newOutputStream(channel), timeout);
        } catch (IOException e) {
            channel.close();
            throw new IOException("cannot open NBD export '" + export + "' at " + socketPath + ": " + e.getMessage(), e);
        }
    }

    private long[] handshake() throws IOException {
        if (in.readLong() != NBDMAGIC || in.readLong() != IHAVEOPT) {
            throw new IOException(server + " does not speak fixed-newstyle NBD");
        }
        int serverFlags = in.readUnsignedShort();
        if ((serverFlags & FLAG_FIXED_NEWSTYLE) == 0) {
            throw new IOException(server + " does not speak fixed-newstyle NBD");
        }
        boolean noZeroes = (serverFlags & FLAG_NO_ZEROES) != 0;
        out.writeInt(FLAG_C_FIXED_NEWSTYLE | (noZeroes ? FLAG_C_NO_ZEROES : 0));
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        out.writeLong(IHAVEOPT);
        out.writeInt(OPT_GO);
        out.writeInt(4 + name.length + 2);
        out.writeInt(name.length);
        out.write(name);
        out.writeShort(0);
        out.flush();
        long exportSize = -1;
        int transmission = 0;
        while (true) {
            if (in.readLong() != OPTION_REPLY_MAGIC) {
                throw new IOException(server + " sent a bad option reply");
            }
            in.readInt();
            int type = in.readInt();
            int length = in.readInt();
            byte[] data = in.readNBytes(length);
            if (type == REP_ACK) {
                break;
            }
            if (type == REP_INFO && length >= 12 && ByteBuffer.wrap(data).getShort() == INFO_EXPORT) {
                var info = ByteBuffer.wrap(data, 2, 10);
                exportSize = info.getLong();
                transmission = Short.toUnsignedInt(info.getShort());
            } else if (type < 0) {
                throw new IOException(server + " refused export '" + export + "': " + new String(data, StandardCharsets.UTF_8));
            }
        }
        if (exportSize < 0) {
            throw new IOException(server + " did not say the size of export '" + export + "'");
        }
        return new long[]{exportSize, transmission};
    }

    public long size() {
        return size;
    }

    public boolean readOnly() {
        return (flags & TRANSMISSION_READ_ONLY) != 0;
    }

    public void read(long offset, ByteBuffer target) throws IOException {
        request(CMD_READ, 0, offset, target.remaining(), null, target);
    }

    public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
        request(CMD_WRITE, fua ? CMD_FLAG_FUA : 0, offset, source.remaining(), source, null);
    }

    public void flush() throws IOException {
        request(CMD_FLUSH, 0, 0, 0, null, null);
    }

    public void trim(long offset, long length) throws IOException {
        request(CMD_TRIM, 0, offset, length, null, null);
    }

    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        request(CMD_WRITE_ZEROES, (noHole ? CMD_FLAG_NO_HOLE : 0) | (fua ? CMD_FLAG_FUA : 0), offset, length, null, null);
    }

    private void request(int type, int commandFlags, long offset, long length, ByteBuffer payload, ByteBuffer target)
        throws IOException {
        IOException broken = failure;
        if (broken != null) {
            throw new NbdErrorException(EIO, "NBD connection to " + server + " (" + export + ") is broken: " + broken.getMessage());
        }
        if (length > Integer.MAX_VALUE) {
            throw new NbdErrorException(EINVAL, "request of " + length + " bytes is too large");
        }
        long cookie = cookies.incrementAndGet();
        var done = new CompletableFuture<Void>();
        pending.put(cookie, new Pending(done, target));
        writeLock.lock();
        try {
            out.writeInt(REQUEST_MAGIC);
            out.writeShort(commandFlags);
            out.writeShort(type);
            out.writeLong(cookie);
            out.writeLong(offset);
            out.writeInt((int) length);
            if (payload != null) {
                var copy = payload.duplicate();
                byte[] bytes = new byte[copy.remaining()];
                copy.get(bytes);
                out.write(bytes);
            }
            out.flush();
        } catch (IOException e) {
            pending.remove(cookie);
            fail(e);
            throw new NbdErrorException(EIO, "sending to " + server + " (" + export + ") failed: " + e.getMessage());
        } finally {
            writeLock.unlock();
        }
        try {
            done.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (payload != null) {
                payload.position(payload.limit());
            }
        } catch (TimeoutException e) {
            fail(new IOException("no answer within " + timeout.toMillis() + " ms"));
            throw new NbdErrorException(EIO, "NBD server " + server + " (" + export + ") gave no answer within "
                + timeout.toMillis() + " ms; the connection was closed");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof NbdErrorException nbd) {
                throw nbd;
            }
            throw new NbdErrorException(EIO, "NBD connection to " + server + " (" + export + ") failed: " + e.getCause().getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NbdErrorException(EIO, "interrupted while waiting for " + server);
        }
    }

    private void readReplies() {
        try {
            while (true) {
                int magic = in.readInt();
                if (magic != SIMPLE_REPLY_MAGIC) {
                    throw new IOException("unexpected reply magic 0x" + Integer.toHexString(magic));
                }
                int error = in.readInt();
                long cookie = in.readLong();
                Pending request = pending.remove(cookie);
                if (request == null) {
                    throw new IOException("reply for unknown request " + cookie);
                }
                if (error != 0) {
                    request.done().completeExceptionally(new NbdErrorException(error, "NBD server " + server + " (" + export
                        + ") answered error " + error));
                    continue;
                }
                if (request.target() != null) {
                    ByteBuffer target = request.target();
                    byte[] bytes = new byte[target.remaining()];
                    in.readFully(bytes);
                    target.put(bytes);
                }
                request.done().complete(null);
            }
        } catch (IOException e) {
            fail(e);
        }
    }

    private void fail(IOException cause) {
        if (failure == null) {
            failure = cause;
        }
        pending.values().forEach(p -> p.done().completeExceptionally(cause));
        pending.clear();
        try {
            connection.close();
        } catch (Exception ignored) {
            // already broken
        }
    }

    @Override
    public void close() {
        if (failure == null) {
            writeLock.lock();
            try {
                out.writeInt(REQUEST_MAGIC);
                out.writeShort(0);
                out.writeShort(CMD_DISC);
                out.writeLong(cookies.incrementAndGet());
                out.writeLong(0);
                out.writeInt(0);
                out.flush();
            } catch (IOException ignored) {
                // closing anyway
            } finally {
                writeLock.unlock();
            }
        }
        fail(new IOException("client closed"));
    }
}
