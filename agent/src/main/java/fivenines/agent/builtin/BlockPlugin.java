package fivenines.agent.builtin;

import fivenines.agent.AgentConfig;
import fivenines.agent.AgentPort;
import fivenines.agent.cluster.ClusterService;
import fivenines.block.aoe.AoeDevice;
import fivenines.block.aoe.AoeInitiator;
import fivenines.block.aoe.AoePath;
import fivenines.block.export.BlockExport;
import fivenines.block.export.ExportRegistry;
import fivenines.block.export.ExportResolver;
import fivenines.block.export.FileExport;
import fivenines.block.nbd.NbdServer;
import fivenines.block.pv.PhysicalVolumeLabel;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.RemovePhysicalVolume;
import fivenines.model.state.Result;
import fivenines.model.storage.PhysicalVolume;
import fivenines.plugin.Health;
import fivenines.plugin.Plugin;
import fivenines.plugin.PluginCommand;
import fivenines.plugin.PluginContext;
import fivenines.store.ClusterStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The block service: serves this node's physical volumes over NBD (TCP and a Unix socket),
 * following the store as volumes are created and removed. A PV on a remote AoE device
 * ({@code aoe:eSHELF.SLOT@IF}) is opened through an {@link AoeInitiator} on a thread of its own
 * (discovery takes a round trip or a few seconds, never the store's apply thread), and tried
 * again every few seconds while its target does not answer.
 */
public final class BlockPlugin implements Plugin {
    private static final Logger LOG = LoggerFactory.getLogger(BlockPlugin.class);
    private final AgentConfig config;
    private final ClusterService cluster;
    private final ExportRegistry registry;
    private final ExportResolver resolver;
    private final Map<String, String> problems = new ConcurrentHashMap<>();
    private final Set<String> opening = ConcurrentHashMap.newKeySet();
    private volatile NbdServer server;
    private static final Duration AOE_DISCOVERY = Duration.ofSeconds(5);
    private static final long AOE_RETRY_MILLIS = 5000;

    /**
     * @param registry exports served here: physical volumes (added by this plugin) and volume engines
     * @param guarded  resolves {@code pv-ID@VG/LV#EPOCH} names: a PV served here, for one volume at its current epoch
     */
    public BlockPlugin(AgentConfig config, ClusterService cluster, ExportRegistry registry, Function<String, BlockExport> guarded) {
        this.config = config;
        this.cluster = cluster;
        this.registry = registry;
        this.resolver = new ExportResolver() {
            @Override
            public BlockExport resolve(String name) {
                BlockExport export = registry.resolve(name);
                return export != null ? export : guarded.apply(name);
            }

            @Override
            public List<String> names() {
                return registry.names();
            }
        };
        cluster.onStoreStarted(this::watch);
    }

    @Override
    public String name() {
        return "block";
    }

    @Override
    public String description() {
        return "block service: this node's physical volumes over NBD on port " + config.nbdPort()
            + " (TLS with a node certificate of the cluster) and " + config.nbdSocket();
    }

    @Override
    public void start(PluginContext context) throws IOException {
        // forced TLS with client certificates on TCP: no export is named or served to anyone but another
        // node of the cluster; QEMU and local tools use the Unix socket, which only this user may open
        var nbd = new NbdServer(NbdServer.Config.builder().tcp(config.listenHost(), config.nbdPort()).unixSocket(config.nbdSocket())
            .tls(cluster.tls().context(), true).clientCertificates(true).peerCheck(cluster.tls()::accepts).build(), resolver);
        try {
            nbd.start();
        } catch (IOException e) {
            nbd.close();
            if (AgentPort.isBindFailure(e)) {
                throw AgentPort.nbd(config).unavailable(e);
            }
            throw e;
        }
        server = nbd;
        if (cluster.inCluster()) {
            exportAll(cluster.store());
        }
    }

    @Override
    public void stop() {
        NbdServer current = server;
        server = null;
        if (current != null) {
            current.close();
        }
        for (String name : registry.names()) {
            if (registry.find(name).orElse(null) instanceof FileExport || registry.find(name).orElse(null) instanceof AoeDevice) {
                registry.remove(name).ifPresent(BlockPlugin::close);
            }
        }
    }

    private void watch(ClusterStore store) {
        store.addListener((index, command, result, state) -> {
            if (server == null || !(result instanceof Result.Applied applied) || !(applied.value() instanceof PhysicalVolume pv)
                || !pv.node().equals(config.nodeName())) {
                return;
            }
            if (command instanceof CreatePhysicalVolume) {
                export(pv);
            } else if (command instanceof RemovePhysicalVolume) {
                registry.remove(pv.exportName()).ifPresent(BlockPlugin::close);
            }
        });
        if (server != null) {
            exportAll(store);
        }
    }

    private void exportAll(ClusterStore store) {
        List<PhysicalVolume> mine = store.read(s -> s.storage().physicalVolumes().stream()
            .filter(pv -> pv.node().equals(config.nodeName())).toList());
        mine.forEach(this::export);
    }

    private void export(PhysicalVolume pv) {
        if (registry.find(pv.exportName()).isPresent()) {
            return;
        }
        if (AoePath.isAoe(pv.path())) {
            if (opening.add(pv.id())) {
                // the engines (and other nodes' NBD handshakes) asking for it meanwhile wait for it
                registry.expect(pv.exportName(), AOE_DISCOVERY.plusSeconds(5));
                Thread.ofVirtual().name("pv-aoe-" + pv.id()).start(() -> openAoe(pv));
            }
            return;
        }
        try {
            var label = PhysicalVolumeLabel.read(Path.of(pv.path()));
            if (label.isEmpty() || !label.get().id().toString().equals(pv.id())) {
                throw new IOException("its label is missing or names another volume");
            }
            registry.add(new FileExport(pv.exportName(), pv.displayName(), Path.of(pv.path()), label.get().dataOffset(),
                pv.size(), false));
            problems.remove(pv.id());
        } catch (IOException e) {
            problems.put(pv.id(), pv.displayName() + ": " + e.getMessage());
            LOG.error("cannot serve physical volume {} ({}): {}", pv.displayName(), pv.id(), e.getMessage());
        }
    }

    /** Opens an AoE PV until it is served, the PV is gone from the store, or the service stops. */
    private void openAoe(PhysicalVolume pv) {
        try {
            while (server != null && mine(pv) && registry.find(pv.exportName()).isEmpty()) {
                try {
                    AoeDevice device = openAoeDevice(pv);
                    registry.add(device);
                    if (!mine(pv) || server == null) {
                        registry.remove(pv.exportName()).ifPresent(BlockPlugin::close);
                        return;
                    }
                    problems.remove(pv.id());
                    LOG.info("physical volume {} served from {} (target MAC {}, {} sectors a frame, {} in flight)",
                        pv.displayName(), device.description(), device.initiator().target(), device.initiator().sectorsPerFrame(),
                        device.initiator().bufferCount());
                    return;
                } catch (IOException | RuntimeException e) {
                    registry.unexpect(pv.exportName()); // whoever waits is told at once
                    String problem = pv.displayName() + ": " + e.getMessage();
                    if (!problem.equals(problems.put(pv.id(), problem))) {
                        LOG.error("cannot serve physical volume {} ({}): {}; trying again every {} s", pv.displayName(), pv.id(),
                            e.getMessage(), AOE_RETRY_MILLIS / 1000);
                    }
                }
                Thread.sleep(AOE_RETRY_MILLIS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (registry.find(pv.exportName()).isEmpty()) {
                registry.unexpect(pv.exportName());
            }
            opening.remove(pv.id());
        }
    }

    private boolean mine(PhysicalVolume pv) {
        return cluster.inCluster() && cluster.store().read(s -> s.storage().physicalVolume(pv.id())).isPresent();
    }

    private AoeDevice openAoeDevice(PhysicalVolume pv) throws IOException {
        var path = AoePath.parse(pv.path());
        var initiator = AoeInitiator.connect(path.interfaceName(), path.shelf(), path.slot(), AOE_DISCOVERY, aoeSettings());
        try {
            var label = PhysicalVolumeLabel.read(AoeDevice.whole(pv.path(), initiator));
            if (label.isEmpty() || !label.get().id().toString().equals(pv.id())) {
                throw new IOException("its label is missing or names another volume");
            }
            return new AoeDevice(pv.exportName(), pv.path(), initiator, label.get().dataOffset(), pv.size());
        } catch (IOException | RuntimeException e) {
            initiator.close();
            throw e;
        }
    }

    /** {@code aoe.timeout_ms} from the cluster config: how long a target may stay silent before its I/O fails (default 20000). */
    private AoeInitiator.Settings aoeSettings() {
        var defaults = AoeInitiator.Settings.defaults();
        long millis = cluster.store().read(s -> s.configuration().get("aoe.timeout_ms")).map(v -> {
            try {
                return Long.parseLong(v.trim());
            } catch (NumberFormatException e) {
                LOG.warn("config aoe.timeout_ms={} is not a number; using {}", v, defaults.deadline().toMillis());
                return defaults.deadline().toMillis();
            }
        }).orElse(defaults.deadline().toMillis());
        return defaults.withDeadline(Duration.ofMillis(Math.max(500, millis)));
    }

    private static void close(BlockExport export) {
        if (export instanceof AoeDevice device) {
            device.close();
        }
        if (export instanceof FileExport file) {
            try {
                file.close();
            } catch (IOException e) {
                LOG.warn("closing export {} failed: {}", export.name(), e.getMessage());
            }
        }
    }

    @Override
    public Health health() {
        if (server == null) {
            return Health.failed("not serving");
        }
        if (!problems.isEmpty()) {
            return Health.degraded("cannot serve " + problems.values());
        }
        List<String> gone = registry.names().stream().map(registry::find).flatMap(java.util.Optional::stream)
            .filter(e -> e instanceof AoeDevice).flatMap(e -> ((AoeDevice) e).initiator().gone().stream()).toList();
        if (!gone.isEmpty()) {
            return Health.degraded(String.join("; ", gone));
        }
        return Health.ok(registry.names().size() + " exports, " + server.connections() + " connections");
    }

    @Override
    public Map<String, PluginCommand> commands() {
        return Map.of("exports", PluginCommand.of("exports: the NBD exports served here", a -> registry.names()));
    }
}
