package fivenines.block.nbd;

import fivenines.block.export.ExportRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An NBD server (fixed newstyle) on TCP and on a Unix socket. Each connection runs on its
 * own virtual thread and serves its requests concurrently, replying as each completes.
 */
public final class NbdServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NbdServer.class);

    /**
     * @param tcpHost       address to listen on for TCP, or null for no TCP listener
     * @param tcpPort       TCP port (0: any free port)
     * @param unixSocket    path of the Unix socket, or null for none
     * @param maxConnections connections served at once; more are closed at accept
     * @param maxPayload    largest READ or WRITE length accepted, bytes
     * @param tls           TLS for STARTTLS, or null to refuse it
     * @param tlsRequiredForRemote whether TCP clients from other hosts must upgrade first
     */
    public record Config(String tcpHost, int tcpPort, Path unixSocket, int maxConnections, int maxPayload,
                         SSLContext tls, boolean tlsRequiredForRemote) {
        public static final int DEFAULT_MAX_CONNECTIONS = 256;
        public static final int DEFAULT_MAX_PAYLOAD = 32 << 20;

        public static Config tcpAndUnix(String host, int port, Path unixSocket) {
            return new Config(host, port, unixSocket, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PAYLOAD, null, false);
        }

        public Config withTls(SSLContext context, boolean requiredForRemote) {
            return new Config(tcpHost, tcpPort, unixSocket, maxConnections, maxPayload, context, requiredForRemote);
        }

        public Config withLimits(int connections, int payload) {
            return new Config(tcpHost, tcpPort, unixSocket, connections, payload, tls, tlsRequiredForRemote);
        }
    }

    private final Config config;
    private final ExportRegistry exports;
    private final AtomicInteger connectionCount = new AtomicInteger();
    private final AtomicInteger connectionNumber = new AtomicInteger();
    private final Set<AutoCloseable> open = ConcurrentHashMap.newKeySet();
    private ServerSocket tcp;
    private ServerSocketChannel unix;
    private volatile boolean closed;

    public NbdServer(Config config, ExportRegistry exports) {
        this.config = config;
        this.exports = exports;
    }

    public ExportRegistry exports() {
        return exports;
    }

    public void start() throws IOException {
        if (config.tcpHost() != null) {
            tcp = new ServerSocket();
            tcp.setReuseAddress(true);
            tcp.bind(new InetSocketAddress(config.tcpHost(), config.tcpPort()), 128);
            Thread.ofPlatform().name("nbd-accept-tcp").daemon(true).start(this::acceptTcp);
        }
        if (config.unixSocket() != null) {
            Files.deleteIfExists(config.unixSocket());
            unix = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            unix.bind(UnixDomainSocketAddress.of(config.unixSocket()));
            Thread.ofPlatform().name("nbd-accept-unix").daemon(true).start(this::acceptUnix);
        }
        LOG.info("NBD server listening on {}{}", tcp == null ? "" : "tcp " + tcp.getLocalSocketAddress() + " ",
            unix == null ? "" : "unix " + config.unixSocket());
    }

    /** The bound TCP port (useful when the configured port was 0). */
    public int tcpPort() {
        return tcp == null ? -1 : tcp.getLocalPort();
    }

    public int connections() {
        return connectionCount.get();
    }

    private void acceptTcp() {
        while (!closed) {
            try {
                Socket socket = tcp.accept();
                socket.setTcpNoDelay(true);
                InetAddress peer = socket.getInetAddress();
                boolean local = peer.isLoopbackAddress();
                serve(socket, () -> new NbdConnection.Transport(socket.getInputStream(), socket.getOutputStream(), socket),
                    local, "tcp " + socket.getRemoteSocketAddress());
            } catch (IOException e) {
                if (!closed) {
                    LOG.warn("NBD accept on TCP failed: {}", e.getMessage());
                }
            }
        }
    }

    private void acceptUnix() {
        while (!closed) {
            try {
                SocketChannel channel = unix.accept();
                serve(channel, () -> new NbdConnection.Transport(Channels.newInputStream(channel),
                    Channels.newOutputStream(channel), null), true, "unix");
            } catch (IOException e) {
                if (!closed) {
                    LOG.warn("NBD accept on the Unix socket failed: {}", e.getMessage());
                }
            }
        }
    }

    private interface TransportSource {
        NbdConnection.Transport open() throws IOException;
    }

    private void serve(AutoCloseable socket, TransportSource transport, boolean local, String peer) {
        if (connectionCount.incrementAndGet() > config.maxConnections()) {
            connectionCount.decrementAndGet();
            LOG.warn("NBD connection from {} refused: {} connections are open, the limit", peer, config.maxConnections());
            closeQuietly(socket);
            return;
        }
        open.add(socket);
        int number = connectionNumber.incrementAndGet();
        Thread.ofVirtual().name("nbd-connection-" + number).start(() -> {
            try {
                new NbdConnection(config, exports, transport.open(), local, peer).run();
            } catch (IOException e) {
                LOG.debug("NBD connection {} from {} ended: {}", number, peer, e.getMessage());
            } catch (RuntimeException e) {
                LOG.warn("NBD connection {} from {} failed", number, peer, e);
            } finally {
                open.remove(socket);
                closeQuietly(socket);
                connectionCount.decrementAndGet();
            }
        });
    }

    private static void closeQuietly(AutoCloseable closeable) {
        try {
            closeable.close();
        } catch (Exception ignored) {
            // the peer is gone either way
        }
    }

    @Override
    public void close() {
        closed = true;
        if (tcp != null) {
            closeQuietly(tcp);
        }
        if (unix != null) {
            closeQuietly(unix);
            try {
                Files.deleteIfExists(config.unixSocket());
            } catch (IOException ignored) {
                // a stale socket file is replaced at the next start
            }
        }
        open.forEach(NbdServer::closeQuietly);
    }
}
