package fivenines.block.nbd;

import fivenines.block.export.ExportResolver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSession;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * An NBD server (fixed newstyle) on TCP, on a Unix socket, or both. Each connection has its own
 * reader thread and serves its requests concurrently, replying as each completes. Exports
 * are looked up at every handshake, so they can be added and removed while it runs.
 * {@code start()} binds; {@code close()} stops listening and ends every connection.
 */
public final class NbdServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NbdServer.class);

    /**
     * @param tcpHost           address to listen on for TCP, or null for no TCP listener
     * @param tcpPort           TCP port (0: any free port, see {@link #tcpPort()})
     * @param unixSocket        path of the Unix socket, or null for none
     * @param maxConnections    connections served at once; more are closed at accept
     * @param maxPayload        largest READ or WRITE, bytes (also advertised as the maximum block size)
     * @param tls               TLS for STARTTLS on TCP, or null to refuse STARTTLS
     * @param tlsRequiredForTcp whether every TCP client, loopback ones too, must upgrade before anything else
     *                          (the protocol's "forced TLS": no export is named or served before it)
     * @param clientCertificates whether a TLS client must present a certificate that {@code tls} trusts
     * @param handshakeTimeout  how long a client may take from connecting to entering transmission
     * @param peerCheck         asked after every TLS handshake whether the client may go on (null: any that
     *                          {@code tls} trusted); a resumed TLS session skips the trust manager, this never
     */
    public record Config(String tcpHost, int tcpPort, Path unixSocket, int maxConnections, int maxPayload,
                         SSLContext tls, boolean tlsRequiredForTcp, boolean clientCertificates, Duration handshakeTimeout,
                         Predicate<SSLSession> peerCheck) {
        public static final int DEFAULT_MAX_CONNECTIONS = 256;
        public static final int DEFAULT_MAX_PAYLOAD = 32 << 20;
        public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(30);

        public Config {
            if (tcpHost == null && unixSocket == null) {
                throw new IllegalArgumentException("an NBD server needs a TCP address, a Unix socket or both");
            }
            if (maxConnections < 1 || maxPayload < 512) {
                throw new IllegalArgumentException("maxConnections must be at least 1 and maxPayload at least 512 bytes");
            }
            if ((tlsRequiredForTcp || clientCertificates) && tls == null) {
                throw new IllegalArgumentException("TLS cannot be required without an SSLContext");
            }
        }

        public static Builder builder() {
            return new Builder();
        }

        public static Config tcpAndUnix(String host, int port, Path unixSocket) {
            return builder().tcp(host, port).unixSocket(unixSocket).build();
        }

        public Config withTls(SSLContext context, boolean requiredForTcp) {
            return new Config(tcpHost, tcpPort, unixSocket, maxConnections, maxPayload, context, requiredForTcp, clientCertificates,
                handshakeTimeout, peerCheck);
        }

        public Config withLimits(int connections, int payload) {
            return new Config(tcpHost, tcpPort, unixSocket, connections, payload, tls, tlsRequiredForTcp, clientCertificates,
                handshakeTimeout, peerCheck);
        }
    }

    /** Builds a {@link Config}; everything not set has its default, and there is no listener until one is set. */
    public static final class Builder {
        private String tcpHost;
        private int tcpPort;
        private Path unixSocket;
        private int maxConnections = Config.DEFAULT_MAX_CONNECTIONS;
        private int maxPayload = Config.DEFAULT_MAX_PAYLOAD;
        private SSLContext tls;
        private boolean tlsRequiredForTcp;
        private boolean clientCertificates;
        private Predicate<SSLSession> peerCheck;
        private Duration handshakeTimeout = Config.DEFAULT_HANDSHAKE_TIMEOUT;

        private Builder() {
        }

        public Builder tcp(String host, int port) {
            tcpHost = host;
            tcpPort = port;
            return this;
        }

        public Builder unixSocket(Path path) {
            unixSocket = path;
            return this;
        }

        public Builder maxConnections(int connections) {
            maxConnections = connections;
            return this;
        }

        public Builder maxPayload(int bytes) {
            maxPayload = bytes;
            return this;
        }

        public Builder tls(SSLContext context, boolean requiredForTcp) {
            tls = context;
            tlsRequiredForTcp = requiredForTcp;
            return this;
        }

        /** Mutual TLS: a client must present a certificate the TLS context trusts. */
        public Builder clientCertificates(boolean required) {
            clientCertificates = required;
            return this;
        }

        /** Asked after every TLS handshake, resumed ones too, whether the client may go on. */
        public Builder peerCheck(Predicate<SSLSession> check) {
            peerCheck = check;
            return this;
        }

        public Builder handshakeTimeout(Duration timeout) {
            handshakeTimeout = timeout;
            return this;
        }

        public Config build() {
            return new Config(tcpHost, tcpPort, unixSocket, maxConnections, maxPayload, tls, tlsRequiredForTcp, clientCertificates,
                handshakeTimeout, peerCheck);
        }
    }

    private final Config config;
    private final ExportResolver exports;
    private final BufferPool buffers;
    private final AtomicInteger connectionCount = new AtomicInteger();
    private final AtomicInteger connectionNumber = new AtomicInteger();
    private final Set<SocketChannel> open = ConcurrentHashMap.newKeySet();
    private ServerSocketChannel tcp;
    private ServerSocketChannel unix;
    private volatile boolean closed;

    public NbdServer(Config config, ExportResolver exports) {
        this.config = config;
        this.exports = exports;
        this.buffers = new BufferPool(config.maxPayload(), 256L << 20);
    }

    public ExportResolver exports() {
        return exports;
    }

    public Config config() {
        return config;
    }

    public synchronized void start() throws IOException {
        if (config.tcpHost() != null) {
            tcp = ServerSocketChannel.open(StandardProtocolFamily.INET);
            tcp.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            tcp.bind(new InetSocketAddress(config.tcpHost(), config.tcpPort()), 128);
            Thread.ofPlatform().name("nbd-accept-tcp-" + tcpPort()).daemon(true).start(() -> accept(tcp, true));
        }
        if (config.unixSocket() != null) {
            Files.deleteIfExists(config.unixSocket());
            unix = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            unix.bind(UnixDomainSocketAddress.of(config.unixSocket()));
            // the socket needs no credential, so only this user (root: QEMU and local tools) may connect
            Files.setPosixFilePermissions(config.unixSocket(), PosixFilePermissions.fromString("rw-------"));
            Thread.ofPlatform().name("nbd-accept-unix").daemon(true).start(() -> accept(unix, false));
        }
        LOG.info("NBD server listening on {}{}", tcp == null ? "" : "tcp " + tcp.getLocalAddress() + " ",
            unix == null ? "" : "unix " + config.unixSocket());
    }

    /** The bound TCP port (useful when the configured port was 0), or -1 without TCP. */
    public int tcpPort() {
        try {
            return tcp == null ? -1 : ((InetSocketAddress) tcp.getLocalAddress()).getPort();
        } catch (IOException e) {
            return -1;
        }
    }

    /** Connections open now. */
    public int connections() {
        return connectionCount.get();
    }

    private void accept(ServerSocketChannel listener, boolean isTcp) {
        while (!closed) {
            try {
                SocketChannel channel = listener.accept();
                String peer = "unix";
                if (isTcp) {
                    channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                    var address = (InetSocketAddress) channel.getRemoteAddress();
                    peer = "tcp " + address;
                }
                serve(channel, isTcp, peer);
            } catch (IOException e) {
                if (!closed) {
                    LOG.warn("NBD accept on {} failed: {}", isTcp ? "TCP" : "the Unix socket", e.getMessage());
                }
            }
        }
    }

    private void serve(SocketChannel channel, boolean isTcp, String peer) {
        if (connectionCount.incrementAndGet() > config.maxConnections()) {
            connectionCount.decrementAndGet();
            LOG.warn("NBD connection from {} refused: {} connections are open, the limit", peer, config.maxConnections());
            new NbdWire.Plain(channel).close();
            return;
        }
        open.add(channel);
        String name = "nbd-connection-" + connectionNumber.incrementAndGet();
        // a platform thread blocks in read() itself; a virtual one parks and is woken through the
        // poller, a second hand-off that costs a third of the throughput at queue depth 1
        Thread.ofPlatform().daemon(true).name(name).start(() -> {
            var wire = new NbdWire.Plain(channel);
            try {
                new NbdConnection(config, exports, buffers, wire, isTcp, name).run();
            } catch (IOException e) {
                LOG.debug("{} from {} ended: {}", name, peer, e.getMessage());
            } catch (RuntimeException e) {
                LOG.warn("{} from {} failed", name, peer, e);
            } finally {
                open.remove(channel);
                wire.close();
                connectionCount.decrementAndGet();
            }
        });
    }

    /** Stops listening and ends every connection; safe to call more than once. */
    @Override
    public synchronized void close() {
        closed = true;
        if (tcp != null) {
            new CloseQuietly(tcp).run();
        }
        if (unix != null) {
            new CloseQuietly(unix).run();
            try {
                Files.deleteIfExists(config.unixSocket());
            } catch (IOException ignored) {
                // a stale socket file is replaced at the next start
            }
        }
        open.forEach(channel -> new CloseQuietly(channel).run());
    }

    private record CloseQuietly(AutoCloseable closeable) implements Runnable {
        @Override
        public void run() {
            try {
                closeable.close();
            } catch (Exception ignored) {
                // the peer is gone either way
            }
        }
    }
}
