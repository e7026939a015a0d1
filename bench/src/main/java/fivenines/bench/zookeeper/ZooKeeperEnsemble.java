package fivenines.bench.zookeeper;

import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A real three-server ZooKeeper ensemble on loopback, each server its own JVM
 * ({@code QuorumPeerMain} with a generated zoo.cfg), the peer of the store benchmark. Durability
 * is ZooKeeper's default — every transaction is fsynced before it is acknowledged
 * (forceSync=yes) — so it is compared with a store that fsyncs too.
 */
public final class ZooKeeperEnsemble implements AutoCloseable {
    private static final int SERVERS = 3;
    private static final long FORMATION_TIMEOUT_SECONDS = 60;

    private final Path root;
    private final List<Process> servers = new ArrayList<>();
    private final List<Integer> clientPorts = new ArrayList<>();
    private boolean closed;

    /** Starts the three servers and returns once one of them leads and the other two follow. */
    public ZooKeeperEnsemble() throws IOException, InterruptedException {
        root = Files.createTempDirectory("zookeeper-ensemble-");
        try {
            start();
            awaitLeader();
        } catch (IOException | InterruptedException | RuntimeException e) {
            close();
            throw e;
        }
    }

    private void start() throws IOException {
        List<Integer> ports = freeLoopbackPorts(SERVERS * 3);
        var members = new StringBuilder();
        for (int id = 1; id <= SERVERS; id++) {
            int base = (id - 1) * 3;
            clientPorts.add(ports.get(base));
            members.append("server.").append(id).append("=127.0.0.1:").append(ports.get(base + 1)).append(':')
                .append(ports.get(base + 2)).append('\n');
        }
        for (int id = 1; id <= SERVERS; id++) {
            Path dataDirectory = Files.createDirectories(root.resolve("server" + id));
            Files.writeString(dataDirectory.resolve("myid"), Integer.toString(id));
            Path config = dataDirectory.resolve("zoo.cfg");
            // A short tick only shortens elections; forceSync is left at its default, so commits are fsynced.
            Files.writeString(config, "tickTime=500\ninitLimit=20\nsyncLimit=10\n"
                + "dataDir=" + dataDirectory + "\n"
                + "clientPort=" + clientPorts.get(id - 1) + "\nclientPortAddress=127.0.0.1\n"
                + "admin.enableServer=false\n4lw.commands.whitelist=srvr,ruok\nmaxClientCnxns=100\n"
                + members);
            servers.add(new ProcessBuilder(javaBinary(), "-Xms64m", "-Xmx256m", "-XX:+UseSerialGC",
                "-Dzookeeper.admin.enableServer=false",
                "-cp", System.getProperty("java.class.path"),
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", config.toString())
                .redirectErrorStream(true)
                .redirectOutput(dataDirectory.resolve("server.log").toFile())
                .start());
        }
    }

    /** The same java that runs this JVM, so the servers run on the same JDK. */
    private static String javaBinary() {
        return ProcessHandle.current().info().command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    /** Distinct free ports on loopback; the servers bind them a moment later, which is racy but rarely loses. */
    private static List<Integer> freeLoopbackPorts(int count) throws IOException {
        Set<Integer> ports = new LinkedHashSet<>();
        while (ports.size() < count) {
            try (var socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                ports.add(socket.getLocalPort());
            }
        }
        return List.copyOf(ports);
    }

    /** How many servers there are. */
    public int size() {
        return clientPorts.size();
    }

    /** The connect string of one server; indexes wrap, so client i can use server(i) to spread load. */
    public String server(int index) {
        return "127.0.0.1:" + clientPorts.get(index % clientPorts.size());
    }

    /** The connect string of the server that leads now. */
    public String leader() throws IOException {
        List<String> modes = modes();
        int index = modes.indexOf("leader");
        if (index < 0) {
            throw new IOException("no ZooKeeper server leads at the moment (modes " + modes + ")");
        }
        return server(index);
    }

    /** A new session on the given server, connected. */
    public static ZooKeeper connect(String connectString) throws IOException, InterruptedException {
        var connected = new CountDownLatch(1);
        var zooKeeper = new ZooKeeper(connectString, 30_000, event -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        if (!connected.await(30, TimeUnit.SECONDS)) {
            zooKeeper.close();
            throw new IOException("ZooKeeper at " + connectString + " did not connect within 30 s");
        }
        return zooKeeper;
    }

    /** The role each server reports for itself ("leader", "follower", or "down"). */
    public List<String> modes() {
        var modes = new ArrayList<String>();
        for (int i = 0; i < size(); i++) {
            modes.add(mode(clientPorts.get(i)));
        }
        return modes;
    }

    private void awaitLeader() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(FORMATION_TIMEOUT_SECONDS);
        List<String> modes = List.of();
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < servers.size(); i++) {
                if (!servers.get(i).isAlive()) {
                    throw new IOException("ZooKeeper server " + (i + 1) + " exited with " + servers.get(i).exitValue()
                        + "; see " + root.resolve("server" + (i + 1)).resolve("server.log"));
                }
            }
            modes = modes();
            if (modes.stream().filter("leader"::equals).count() == 1
                && modes.stream().filter("follower"::equals).count() == SERVERS - 1) {
                return;
            }
            Thread.sleep(200);
        }
        throw new IOException("the ZooKeeper ensemble elected no leader within " + FORMATION_TIMEOUT_SECONDS
            + " s (modes " + modes + "); see the server.log files under " + root);
    }

    /** Asks a server for its mode with the srvr four-letter command. */
    private static String mode(int clientPort) {
        try (var socket = new Socket()) {
            socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), clientPort), 1000);
            socket.setSoTimeout(2000);
            socket.getOutputStream().write("srvr".getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            return answer.lines().filter(l -> l.startsWith("Mode: ")).map(l -> l.substring(6).strip())
                .findFirst().orElse("down");
        } catch (IOException e) {
            return "down";
        }
    }

    /** Kills the servers and deletes their data; safe to call twice. */
    @Override
    public void close() throws IOException, InterruptedException {
        if (closed) {
            return;
        }
        closed = true;
        for (Process server : servers) {
            server.destroyForcibly();
        }
        for (Process server : servers) {
            server.waitFor();
        }
        try (var paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> {
                try {
                    Files.deleteIfExists(path);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
