package fivenines.bench.zookeeper;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A real three-server ZooKeeper ensemble on loopback, each server its own JVM, with
 * ZooKeeper's default durability (forceSync=yes): the peer of the store benchmark.
 */
public final class ZooKeeperEnsemble implements AutoCloseable {
    private final Path root;
    private final List<Process> servers = new ArrayList<>();
    private final List<Integer> clientPorts = new ArrayList<>();

    public ZooKeeperEnsemble() throws IOException, InterruptedException {
        root = Files.createTempDirectory("zk-ensemble-");
        int[][] ports = new int[3][3];
        for (int[] p : ports) {
            for (int i = 0; i < 3; i++) {
                p[i] = freePort();
            }
        }
        var members = new StringBuilder();
        for (int id = 1; id <= 3; id++) {
            members.append("server.").append(id).append("=127.0.0.1:").append(ports[id - 1][1]).append(':')
                .append(ports[id - 1][2]).append('\n');
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        for (int id = 1; id <= 3; id++) {
            Path dir = Files.createDirectories(root.resolve("server" + id));
            Files.writeString(dir.resolve("myid"), Integer.toString(id));
            Path config = dir.resolve("zoo.cfg");
            Files.writeString(config, "tickTime=500\ninitLimit=20\nsyncLimit=10\ndataDir=" + dir + "\n"
                + "clientPort=" + ports[id - 1][0] + "\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                + "4lw.commands.whitelist=ruok,stat\nmaxClientCnxns=100\n" + members);
            clientPorts.add(ports[id - 1][0]);
            servers.add(new ProcessBuilder(java, "-Xmx256m", "-XX:+UseSerialGC",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-Dzookeeper.admin.enableServer=false",
                "-cp", System.getProperty("java.class.path"), "org.apache.zookeeper.server.quorum.QuorumPeerMain", config.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("server.log").toFile()).start());
        }
        awaitQuorum();
    }

    private static int freePort() throws IOException {
        try (var socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** The connect string of one server (clients spread themselves over the three). */
    public String server(int index) {
        return "127.0.0.1:" + clientPorts.get(index % clientPorts.size());
    }

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

    private void awaitQuorum() throws InterruptedException, IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            try (ZooKeeper zooKeeper = connect(server(0))) {
                zooKeeper.create("/ready", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
                return;
            } catch (Exception e) {
                Thread.sleep(500);
            }
        }
        throw new IOException("the ZooKeeper ensemble did not form within 60 s; see " + root);
    }

    @Override
    public void close() throws IOException, InterruptedException {
        for (Process server : servers) {
            server.destroyForcibly().waitFor();
        }
        try (var paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
