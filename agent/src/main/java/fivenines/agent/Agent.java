package fivenines.agent;

import fivenines.agent.api.ApiServer;
import fivenines.agent.api.TaskRoutes;
import fivenines.agent.console.ConsoleSessions;
import fivenines.agent.console.WebConsole;
import fivenines.agent.api.AoeRoutes;
import fivenines.agent.api.ClusterRoutes;
import fivenines.agent.api.ConfigRoutes;
import fivenines.agent.api.FenceRoutes;
import fivenines.agent.api.HaRoutes;
import fivenines.agent.ha.HaManager;
import fivenines.agent.ha.LeaseKeeper;
import fivenines.manager.fence.ProcessFenceAgent;
import fivenines.manager.lease.MonotonicClock;
import fivenines.manager.watchdog.NoWatchdog;
import fivenines.manager.watchdog.Watchdog;
import fivenines.agent.api.LockRoutes;
import fivenines.agent.api.McpRoutes;
import fivenines.agent.api.Router;
import fivenines.agent.api.StorageRoutes;
import fivenines.agent.api.VolumeRoutes;
import fivenines.agent.storage.PhysicalVolumeService;
import fivenines.agent.storage.VolumeService;
import fivenines.agent.builtin.AoePlugin;
import fivenines.agent.builtin.VolumePlugin;
import fivenines.agent.builtin.VmPlugin;
import fivenines.agent.api.VmRoutes;
import fivenines.agent.api.NodeRoutes;
import fivenines.agent.ha.NodeDrains;
import fivenines.agent.metrics.NodeMetrics;
import fivenines.agent.vm.VmService;
import fivenines.block.aoe.AoeExports;
import fivenines.block.export.ExportRegistry;
import fivenines.agent.builtin.ApiPlugin;
import fivenines.agent.builtin.BlockPlugin;
import fivenines.agent.builtin.ManagerPlugin;
import fivenines.agent.builtin.StorePlugin;
import fivenines.agent.cluster.ClusterService;
import fivenines.agent.cluster.StoreCluster;
import fivenines.agent.lock.StoreLocks;
import fivenines.agent.plugin.HostedContext;
import fivenines.agent.plugin.PluginHost;
import fivenines.plugin.Plugin;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The daemon on each node: a plugin host whose built-in plugins are the store, the manager
 * and the API; third-party plugins come from jars in {@code DATA/plugins}.
 */
public final class Agent implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Agent.class);
    private final AgentConfig config;
    private final Credentials credentials;
    private final ClusterService cluster;
    private final PluginHost host;
    private final PhysicalVolumeService physicalVolumes;
    private final VolumeService volumes;
    private final CountDownLatch exited = new CountDownLatch(1);
    private final FileChannel dataLock;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Agent(AgentConfig config) {
        this.config = config;
        try {
            Files.createDirectories(config.dataDir());
            this.dataLock = FileChannel.open(config.dataDir().resolve("agent.lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
            if (dataLock.tryLock() == null) {
                dataLock.close();
                throw new IllegalStateException("another agent is running on data directory " + config.dataDir().toAbsolutePath()
                    + "; stop it first (nines mcp exit) or give this one its own --data");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the data directory " + config.dataDir(), e);
        }
        this.credentials = Credentials.loadOrCreate(config.dataDir());
        this.cluster = new ClusterService(config, credentials);
        var exports = new ExportRegistry();
        this.physicalVolumes = new PhysicalVolumeService(config, cluster, exports);
        this.volumes = new VolumeService(config, cluster, credentials, exports);
        var vms = new VmService(config, cluster, credentials, volumes);
        var leases = new LeaseKeeper(cluster, vms, watchdog(), new MonotonicClock());
        volumes.writeGates(leases::writeGate);
        var storeCluster = new StoreCluster(cluster);
        var locks = new StoreLocks(storeCluster, config.nodeName());
        this.host = new PluginHost((Plugin plugin) ->
            new HostedContext(plugin.name(), config.nodeName(), config.dataDir(), storeCluster, locks));
        var router = new Router();
        router.addOpen("GET", "/v1/health", r -> Map.of("node", config.nodeName(), "ok", true));
        router.addOpen("GET", "/v1/openapi.yaml", r -> new ApiServer.RawText("application/yaml", openApi()));
        new ClusterRoutes(config, cluster).register(router);
        new ConfigRoutes(cluster).register(router);
        new LockRoutes(cluster, locks).register(router);
        new FenceRoutes(cluster).register(router);
        new HaRoutes(cluster, leases).register(router);
        new McpRoutes(host, this::close).register(router);
        new StorageRoutes(cluster, physicalVolumes).register(router);
        new VolumeRoutes(cluster, volumes).register(router);
        new VmRoutes(config, cluster, vms).register(router);
        var drains = new NodeDrains(cluster, vms, config.nodeName());
        new NodeRoutes(cluster, drains).register(router);
        new TaskRoutes(config.nodeName(), cluster, vms, volumes, drains).register(router);
        var haManager = new HaManager(cluster, leases, new ProcessFenceAgent());
        var metrics = new NodeMetrics(config.nodeName(), cluster, exports, haManager.counters());
        router.add("GET", "/metrics", r -> new ApiServer.RawText(NodeMetrics.CONTENT_TYPE, metrics.scrape()));
        var aoe = new AoeExports();
        new AoeRoutes(cluster, exports, aoe, config.nodeName()).register(router);
        host.register(new StorePlugin(cluster));
        host.register(new ManagerPlugin(cluster, leases, haManager));
        // Stopped right after the volumes (plugins stop in reverse): QEMU's requests to a volume
        // whose engine is gone would fail with EIO if the NBD server went on serving meanwhile,
        // where a closed connection lets QEMU reconnect to the next agent.
        host.register(new BlockPlugin(config, cluster, exports, volumes::resolveGuarded));
        host.register(new VolumePlugin(volumes));
        host.register(new AoePlugin(aoe)); // stops before the volumes it serves from
        host.register(new VmPlugin(vms));
        host.register(new ApiPlugin(config, router, credentials::matches, cluster.tls().context(),
            new WebConsole(credentials::matches, new ConsoleSessions())));
    }

    /** {@code /dev/watchdog} (or NINES_WATCHDOG's path) when it exists; NINES_WATCHDOG=none never arms one. */
    private static Watchdog watchdog() {
        String device = System.getenv().getOrDefault("NINES_WATCHDOG", "/dev/watchdog");
        if (device.equals("none")) {
            return new NoWatchdog("disabled by NINES_WATCHDOG=none: the lease and storage fencing (epochs) keep a hung"
                + " agent's guests' writes out");
        }
        Watchdog watchdog = Watchdog.open(java.nio.file.Path.of(device));
        LOG.info("watchdog: {}", watchdog.description());
        return watchdog;
    }

    /**
     * Starts an agent: built-in plugins, then jars from {@code DATA/plugins}; then it says where
     * it is in {@code ~/.nines/agents/PORT.json}. Every port is checked before anything is
     * claimed, and a built-in plugin that does not start (a port taken since the check, a store
     * that cannot recover) stops the start: the agent is up only when all of its own parts are.
     *
     * @throws AgentStartException when it did not start; everything it had started is stopped again
     */
    public static Agent start(AgentConfig config) {
        try {
            AgentPort.requireFree(config);
        } catch (PortUnavailableException e) {
            throw new AgentStartException("cannot start agent " + config.nodeName() + ": " + e.getMessage(), e);
        }
        Agent agent;
        try {
            agent = new Agent(config);
        } catch (RuntimeException e) {
            throw new AgentStartException("cannot start agent " + config.nodeName() + ": " + e.getMessage(), e);
        }
        try {
            for (var plugin : agent.host.list()) {
                agent.host.start(plugin.name());
            }
        } catch (RuntimeException e) {
            agent.close();
            throw new AgentStartException("cannot start agent " + config.nodeName() + ": " + e.getMessage(), e);
        }
        agent.host.loadFolder(config.dataDir().resolve("plugins"));
        LocalAgents.announce(config, agent.credentials.file());
        LOG.info("agent {} is up: API {}, Raft {}, data {}", config.nodeName(), config.apiUrl(), config.raftAddress(),
            config.dataDir().toAbsolutePath());
        return agent;
    }

    public AgentConfig config() {
        return config;
    }

    public ClusterService cluster() {
        return cluster;
    }

    public Credentials credentials() {
        return credentials;
    }

    public PhysicalVolumeService physicalVolumes() {
        return physicalVolumes;
    }

    public VolumeService volumes() {
        return volumes;
    }

    public PluginHost plugins() {
        return host;
    }

    public void awaitExit() throws InterruptedException {
        exited.await();
    }

    /** Stops every plugin (in reverse order) and releases the data directory. Idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        LOG.info("agent {} stopping", config.nodeName());
        try {
            host.close();
        } finally {
            try {
                dataLock.close();
            } catch (IOException e) {
                LOG.debug("releasing the data directory lock failed: {}", e.getMessage());
            }
            exited.countDown();
        }
    }

    /**
     * For a shutdown hook: closes, waiting at most {@code timeout}. A plugin stuck in a stop, or
     * a request holding a lock that a stop needs, must not keep the process from ending: the
     * JVM halts once its hooks return, and the store's log is safe without a clean close.
     *
     * @return whether the agent closed within the timeout
     */
    public boolean closeWithin(Duration timeout) {
        Thread closer = Thread.ofPlatform().name("agent-close").daemon(true).start(this::close);
        try {
            if (closer.join(timeout)) {
                return true;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        var stuck = new StringBuilder();
        for (StackTraceElement frame : closer.getStackTrace()) {
            stuck.append("\n\tat ").append(frame);
        }
        LOG.warn("agent {} did not stop within {} s; ending without waiting further. Its stop is at:{}", config.nodeName(),
            timeout.toSeconds(), stuck);
        return false;
    }

    private static String openApi() {
        try (InputStream in = Agent.class.getResourceAsStream("/openapi.yaml")) {
            return in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
