package fivenines.agent.storage;

import fivenines.agent.AgentConfig;
import fivenines.agent.Credentials;
import fivenines.agent.api.ApiException;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.agent.cluster.ClusterService;
import fivenines.agent.metrics.CountedExport;
import fivenines.agent.metrics.VolumeIo;
import fivenines.block.export.BlockExport;
import fivenines.block.export.ExportRegistry;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.block.volume.ChunkDevices;
import fivenines.block.volume.GuardedExport;
import fivenines.block.volume.RemoteExport;
import fivenines.block.volume.MirrorEngine;
import fivenines.manager.lease.WriteGate;
import fivenines.model.command.AddLeg;
import fivenines.model.command.DropLeg;
import fivenines.model.command.RemoveLeg;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.AttachLogicalVolume;
import fivenines.model.command.Command;
import fivenines.model.command.CommitChunks;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.ExtendLogicalVolume;
import fivenines.model.command.RemoveLogicalVolume;
import fivenines.model.command.RenameLogicalVolume;
import fivenines.model.command.DetachLogicalVolume;
import fivenines.model.command.RemoveNode;
import fivenines.model.command.ReserveChunks;
import fivenines.model.command.SnapshotLogicalVolume;
import fivenines.model.state.Rejection;
import fivenines.model.state.Result;
import fivenines.model.storage.Attachment;
import fivenines.model.storage.ChunkMapping;
import fivenines.model.storage.ChunkRef;
import fivenines.model.storage.LogicalVolume;
import fivenines.model.storage.PhysicalVolume;
import fivenines.model.storage.VolumeView;
import fivenines.store.ClusterStore;
import fivenines.store.StoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.time.Duration;
import java.util.function.Function;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * This node's side of logical volumes: runs a volume engine for each volume the store says is
 * attached here, serves it through the block service's NBD server as export {@code VG/LV},
 * and answers the guard in front of this node's physical volumes with each volume's epoch as applied here.
 *
 * <p>Attach, detach and snapshot of an attached volume are carried out by the node concerned
 * (other agents forward the request to it), so that an engine commits what it wrote before it
 * lets go and is quiet while a snapshot is taken. A node that cannot be reached is detached
 * through the store alone: what it wrote and did not flush is lost, as a crash would lose it.
 */
public final class VolumeService {
    private static final Logger LOG = LoggerFactory.getLogger(VolumeService.class);
    private static final Duration COMMIT_INTERVAL = Duration.ofMillis(200);
    private static final Duration REMOTE_TIMEOUT = Duration.ofSeconds(10);

    private final AgentConfig config;
    private final ClusterService cluster;
    private final Credentials credentials;
    private final ExportRegistry exports;
    /** Volumes whose attach here has just been applied on this replica (their engine may start from a local read). */
    private final java.util.Set<String> justAttached = ConcurrentHashMap.newKeySet();
    private final Map<String, MirrorEngine> engines = new ConcurrentHashMap<>();
    private final ScheduledExecutorService reconciler = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().daemon(true).name("volume-reconcile").factory());
    /**
     * How soon an engine that could not start is tried again. It may fail for a passing reason (just after
     * a restart the store may have no leader yet, so the engine's first commit fails); without a retry a
     * volume attached here stayed unserved until some other volume command came, and a guest adopted
     * after the restart waited on its disk until QEMU's reconnect delay ran out.
     */
    static final Duration START_RETRY = Duration.ofSeconds(1);
    /** Engines that failed to start, with the number of tries so far. */
    private final Map<String, Integer> failedStarts = new ConcurrentHashMap<>();
    private final AtomicBoolean retryScheduled = new AtomicBoolean();
    private volatile boolean running;
    /** Whether the engine of a volume may acknowledge writes now (this node's lease); open until the lease keeper says. */
    private volatile Function<String, WriteGate> writeGates = volume -> WriteGate.OPEN;

    public VolumeService(AgentConfig config, ClusterService cluster, Credentials credentials, ExportRegistry exports) {
        this.config = config;
        this.cluster = cluster;
        this.credentials = credentials;
        this.exports = exports;
        cluster.onStoreStarted(this::watch);
    }

    /**
     * The volume's epoch as this replica has applied it, or -1 when there is no such volume. It is
     * read from the applied state itself, not from a copy kept by a store listener: the listeners run
     * after the applied index has moved, so an engine's (linearizable) read could see a new epoch that
     * such a copy did not have yet, and the guard would refuse the engine's first request at it.
     */
    public long epoch(String volume) {
        if (!cluster.inCluster()) {
            return -1;
        }
        return cluster.store().read(state -> state.volumes().volume(volume).map(LogicalVolume::epoch).orElse(-1L));
    }

    /** Invariant 3: the engines acknowledge writes only while the gate of their volume is open. */
    public void writeGates(Function<String, WriteGate> gates) {
        this.writeGates = gates;
    }

    /** Engines running here, by volume. */
    public Map<String, MirrorEngine> engines() {
        return Map.copyOf(engines);
    }

    // ---- following the store ----

    private void watch(ClusterStore store) {
        store.addListener((index, command, result, state) -> {
            if (result instanceof Result.Applied && command instanceof fivenines.model.command.ChangeConfig change
                && java.util.stream.Stream.concat(change.set().keySet().stream(), change.unset().stream())
                    .anyMatch(key -> key.startsWith("volume.")) && running) {
                // the resync rate or the leg timeout changed: the engines serving volumes here take it now
                reconciler.execute(() -> {
                    MirrorEngine.Settings settings = settings();
                    engines.values().forEach(engine -> engine.settings(settings));
                });
                return;
            }
            if (!(result instanceof Result.Applied) || !concernsVolumes(command)) {
                return;
            }
            if (command instanceof ReserveChunks) {
                return;
            }
            if (command instanceof AddLeg || command instanceof RemoveLeg) {
                // legs changed under an engine serving the volume here (a convert): it takes them
                String path = command instanceof AddLeg a ? a.volumeGroup() + "/" + a.name()
                    : ((RemoveLeg) command).volumeGroup() + "/" + ((RemoveLeg) command).name();
                if (engines.containsKey(path) && running) {
                    reconciler.execute(() -> refresh(path));
                }
                return;
            }
            if (command instanceof CommitChunks c) {
                // another attachment's new chunks (live migration): the engine here takes them
                String path = c.volumeGroup() + "/" + c.name();
                if (!c.node().equals(config.nodeName()) && engines.containsKey(path) && running) {
                    reconciler.execute(() -> refresh(path));
                }
                return;
            }
            if (running) {
                reconciler.execute(this::reconcileAll);
            }
        });
        if (running) {
            reconciler.execute(this::reconcileAll);
        }
    }

    private static boolean concernsVolumes(Command command) {
        return switch (command) {
            case CreateLogicalVolume c -> true;
            case ExtendLogicalVolume c -> true;
            case RenameLogicalVolume c -> true;
            case RemoveLogicalVolume c -> true;
            case SnapshotLogicalVolume c -> true;
            case AttachLogicalVolume c -> true;
            case DetachLogicalVolume c -> true;
            case ReserveChunks c -> true;
            case CommitChunks c -> true;
            case DropLeg c -> true;
            case AddLeg c -> true;
            case RemoveLeg c -> true;
            case RemoveNode c -> true;
            default -> false;
        };
    }

    /** Starts engines for volumes attached here (also after a restart), stops those attached here no more. */
    public void start() {
        running = true;
        if (cluster.inCluster()) {
            reconcileAll();
        }
    }

    /** Stops the engines, committing what they wrote; the attachments stay (a restarted agent serves them again). */
    public void stop() {
        running = false;
        for (String path : List.copyOf(engines.keySet())) {
            MirrorEngine engine = engines.remove(path);
            exports.remove(path);
            try {
                engine.close();
            } catch (IOException e) {
                LOG.warn("{}: could not commit on stop: {}", path, e.getMessage());
            }
        }
    }

    private synchronized void reconcileAll() {
        if (!running || !cluster.inCluster()) {
            return;
        }
        Map<String, VolumeView> mine = cluster.store().read(state -> {
            var views = new HashMap<String, VolumeView>();
            for (LogicalVolume volume : state.volumes().volumes()) {
                if (volume.attachment(config.nodeName()).isPresent()) {
                    views.put(volume.path(), state.volumes().view(volume.path()));
                }
            }
            return views;
        });
        for (String path : List.copyOf(engines.keySet())) {
            if (!mine.containsKey(path)) {
                MirrorEngine engine = engines.remove(path);
                exports.remove(path);
                engine.abandon("no longer attached on " + config.nodeName());
                LOG.info("{}: no longer attached here; engine stopped", path);
            }
        }
        MirrorEngine.Settings settings = settings();
        mine.forEach((path, view) -> {
            MirrorEngine engine = engines.get(path);
            if (engine == null) {
                try {
                    engine = new MirrorEngine(new StoreMirrorMetadata(cluster, config.nodeName(), path, justAttached), devices,
                        settings);
                    engines.put(path, engine);
                    exports.add(new CountedExport(new LeaseGatedExport(engine, () -> writeGates.apply(path).refusal()), new VolumeIo()));
                    Integer tries = failedStarts.remove(path);
                    LOG.info("{}: attached here at epoch {}, serving it as NBD export {}{}", path, view.epoch(), path,
                        tries == null ? "" : " (after " + tries + " failed tries)");
                } catch (IOException | RuntimeException e) {
                    int tries = failedStarts.merge(path, 1, Integer::sum);
                    if (tries == 1) {
                        LOG.warn("{}: cannot start its volume engine: {}; trying again every {} ms", path, e.getMessage(),
                            START_RETRY.toMillis());
                    } else {
                        LOG.debug("{}: engine start, try {}: {}", path, tries, e.getMessage());
                    }
                }
            } else if (engine.epoch() != view.epoch()) {
                try {
                    engine.refresh(view);
                } catch (IOException e) {
                    LOG.warn("{}: its engine cannot take epoch {}: {}", path, view.epoch(), e.getMessage());
                }
            }
        });
        failedStarts.keySet().retainAll(mine.keySet());
        if (!failedStarts.isEmpty() && retryScheduled.compareAndSet(false, true)) {
            reconciler.schedule(() -> {
                retryScheduled.set(false);
                reconcileAll();
            }, START_RETRY.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** Brings the engine serving {@code path} here up to what the store has committed (a migration's switch-over). */
    public void refresh(String path) {
        MirrorEngine engine = engines.get(path);
        if (engine != null) {
            try {
                engine.refresh(cluster.store().readLinearizable(state -> state.volumes().view(path)));
            } catch (Rejection gone) {
                LOG.debug("{}: gone before its refresh", path);
            } catch (IOException e) {
                LOG.warn("{}: its engine cannot take the store's state: {}", path, e.getMessage());
            }
        }
    }

    /** The engines' way to their chunks: this node's PVs directly, other nodes' through their block services. */
    private final ChunkDevices devices = new ChunkDevices() {
        @Override
        public BlockExport open(String physicalVolume, String volume, long epoch) throws IOException {
            return VolumeService.this.open(physicalVolume, volume, epoch);
        }

        @Override
        public boolean isLocal(String physicalVolume) {
            return cluster.store().read(state -> state.storage().physicalVolume(physicalVolume))
                .map(pv -> pv.node().equals(config.nodeName())).orElse(false);
        }
    };

    private BlockExport open(String physicalVolume, String volume, long epoch) throws IOException {
        PhysicalVolume pv = cluster.store().read(state -> state.storage().physicalVolume(physicalVolume)).orElseThrow(
            () -> new NbdErrorException(NbdProtocol.EIO, "physical volume " + physicalVolume + " is gone"));
        if (pv.node().equals(config.nodeName())) {
            // resolve: a PV the block service is still opening (an AoE device at start-up) is waited for
            BlockExport local = java.util.Optional.ofNullable(exports.resolve(pv.exportName())).orElseThrow(() -> new NbdErrorException(NbdProtocol.EIO,
                "physical volume " + pv.displayName() + " is not served here; see 'nines mcp plugin list' (block)"));
            return new GuardedExport(local, volume, epoch, this::epoch);
        }
        try {
            return new RemoteExport(pv.nbdAddress(), GuardedExport.exportName(pv.exportName(), volume, epoch), REMOTE_TIMEOUT,
                cluster.tls().context());
        } catch (NbdErrorException refused) {
            throw refused; // refused for an outdated epoch: the engine takes the new one and retries
        } catch (IOException e) {
            throw new NbdErrorException(NbdProtocol.EIO, "physical volume " + pv.displayName() + " cannot be reached: "
                + e.getMessage());
        }
    }

    /**
     * The guarded export for a name {@code pv-ID@VG/LV#EPOCH}, when it names a PV served here and the current epoch.
     * An epoch newer than this replica's was committed already (the engine asking read it from the store): this
     * replica catches up before it answers, instead of turning away the volume's current writer.
     */
    public BlockExport resolveGuarded(String name) {
        var parsed = GuardedExport.parse(name);
        if (parsed == null) {
            return null;
        }
        if (epoch(parsed.volume()) < parsed.epoch()) {
            try {
                long caughtUp = cluster.store().readLinearizable(state -> state.volumes().volume(parsed.volume())
                    .map(LogicalVolume::epoch).orElse(-1L));
                LOG.info("{}: asked for epoch {}; this replica caught up to epoch {}", parsed.volume(), parsed.epoch(), caughtUp);
            } catch (RuntimeException e) {
                LOG.warn("{}: asked for epoch {} but this replica cannot catch up: {}", parsed.volume(), parsed.epoch(),
                    e.getMessage());
            }
        }
        if (epoch(parsed.volume()) != parsed.epoch()) {
            return null;
        }
        return java.util.Optional.ofNullable(exports.resolve(parsed.physicalVolumeExport()))
            .filter(e -> !(e instanceof MirrorEngine || e instanceof LeaseGatedExport || e instanceof CountedExport))
            .map(e -> (BlockExport) new GuardedExport(e, parsed.volume(), parsed.epoch(), this::epoch))
            .orElse(null);
    }

    // ---- operations, carried out by the node concerned ----

    /** Attaches on {@code node} (here, or forwarded there) and returns once its engine serves the volume. */
    public void attach(String vg, String lv, String node, boolean shared, boolean force) {
        String target = node == null ? config.nodeName() : node;
        if (!target.equals(config.nodeName())) {
            forward(target, "/v1/lvs/" + AgentClient.encode(vg) + "/" + AgentClient.encode(lv) + "/attach",
                Map.of("node", target, "shared", shared, "force", force));
            return;
        }
        justAttached.add(vg + "/" + lv);
        try {
            ApiException.valueOf(cluster.store().submitAndWait(new AttachLogicalVolume(vg, lv, target, shared, force,
                config.nbdAddress(), config.nbdSocket().toString())));
            reconcileAll();
        } finally {
            justAttached.remove(vg + "/" + lv);
        }
        if (!engines.containsKey(vg + "/" + lv)) {
            throw new ApiException(500, vg + "/" + lv + " is attached here but its engine did not start; see the agent log");
        }
    }

    /**
     * Lets NBD clients that ask for {@code path} here wait for it while it attaches (a QEMU started
     * at the same time as its volumes attach), instead of being told there is no such export.
     */
    public void expect(String path, Duration patience) {
        exports.expect(path, patience);
    }

    /** Withdraws {@link #expect}: the attach failed, and a waiting client learns it at once. */
    public void unexpect(String path) {
        exports.unexpect(path);
    }

    /** Detaches from {@code node}, or from every node when null. */
    public void detach(String vg, String lv, String node) {
        String path = vg + "/" + lv;
        LogicalVolume volume = cluster.store().readLinearizable(s -> s.volumes().requireVolume(vg, lv));
        List<String> nodes = node != null ? List.of(node) : volume.attachments().stream().map(Attachment::node).toList();
        if (nodes.isEmpty()) {
            throw new ApiException(409, path + " is not attached");
        }
        for (String target : nodes) {
            if (volume.attachment(target).isEmpty()) {
                throw new ApiException(409, path + " is not attached on '" + target + "'");
            }
            if (target.equals(config.nodeName())) {
                detachHere(vg, lv);
            } else if (reachable(target)) {
                forward(target, "/v1/lvs/" + AgentClient.encode(vg) + "/" + AgentClient.encode(lv) + "/detach",
                    Map.of("node", target));
            } else {
                LOG.warn("{}: node {} cannot be reached; detaching it through the store alone", path, target);
                ApiException.valueOf(cluster.store().submitAndWait(new DetachLogicalVolume(vg, lv, target)));
            }
        }
    }

    private synchronized void detachHere(String vg, String lv) {
        String path = vg + "/" + lv;
        MirrorEngine engine = engines.remove(path);
        if (engine != null) {
            exports.remove(path);
            try {
                engine.close();
            } catch (IOException e) {
                LOG.warn("{}: committing before detach failed: {}", path, e.getMessage());
            }
        }
        ApiException.valueOf(cluster.store().submitAndWait(new DetachLogicalVolume(vg, lv, config.nodeName())));
    }

    /** Takes a snapshot; an attached volume's is taken by its node with the engine quiet. */
    public void snapshot(String vg, String lv, String name, boolean writable) {
        String path = vg + "/" + lv;
        LogicalVolume volume = cluster.store().readLinearizable(s -> s.volumes().requireVolume(vg, lv));
        if (volume.attachments().size() == 1 && !volume.attachments().getFirst().node().equals(config.nodeName())) {
            forward(volume.attachments().getFirst().node(), "/v1/lvs/" + AgentClient.encode(vg) + "/" + AgentClient.encode(lv)
                + "/snapshot", Map.of("name", name, "writable", writable));
            return;
        }
        MirrorEngine engine = engines.get(path);
        if (engine == null) {
            ApiException.valueOf(cluster.store().submitAndWait(new SnapshotLogicalVolume(vg, lv, name, writable, volume.epoch())));
            return;
        }
        try {
            engine.quiesced(epoch -> ApiException.valueOf(cluster.store().submitAndWait(
                new SnapshotLogicalVolume(vg, lv, name, writable, epoch))));
        } catch (IOException e) {
            throw new ApiException(503, "cannot quiesce " + path + " for its snapshot: " + e.getMessage(), true);
        }
    }

    /**
     * The mirror settings from the cluster config: {@code volume.leg_timeout_ms} (how long a leg may take
     * before it leaves the set; default 2000) and {@code volume.resync_mib_per_s} (resync rate; default 200, 0: unthrottled).
     */
    private MirrorEngine.Settings settings() {
        var defaults = MirrorEngine.Settings.defaults();
        long timeout = configLong("volume.leg_timeout_ms", defaults.legTimeout().toMillis());
        long rate = configLong("volume.resync_mib_per_s", defaults.resyncBytesPerSecond() >> 20);
        return new MirrorEngine.Settings(COMMIT_INTERVAL, Duration.ofMillis(Math.max(50, timeout)), rate << 20);
    }

    private long configLong(String key, long fallback) {
        return cluster.store().read(state -> state.configuration().get(key)).map(value -> {
            try {
                return Long.parseLong(value.trim());
            } catch (NumberFormatException e) {
                LOG.warn("config {}={} is not a number; using {}", key, value, fallback);
                return fallback;
            }
        }).orElse(fallback);
    }

    /**
     * Compares a volume's legs (and with {@code repair} rewrites what differs from leg {@code from}):
     * by the node serving it, else here, attached for the check and detached after.
     */
    public Object check(String vg, String lv, boolean repair, Integer from) {
        String path = vg + "/" + lv;
        LogicalVolume volume = cluster.store().readLinearizable(s -> s.volumes().requireVolume(vg, lv));
        if (!volume.mirrored()) {
            throw new ApiException(409, path + " has one leg: there is nothing to compare it with");
        }
        if (volume.attachments().size() > 1) {
            throw new ApiException(409, path + " is attached on " + volume.attachments().stream().map(Attachment::node).toList()
                + " (a migration); check it once it has one writer");
        }
        if (volume.attached() && !volume.attachments().getFirst().node().equals(config.nodeName())) {
            var body = new HashMap<String, Object>();
            body.put("repair", repair);
            if (from != null) {
                body.put("from", from);
            }
            return forwardForResult(volume.attachments().getFirst().node(), "/v1/lvs/" + AgentClient.encode(vg) + "/"
                + AgentClient.encode(lv) + "/check", body);
        }
        boolean attachedForCheck = !volume.attached();
        if (attachedForCheck) {
            attach(vg, lv, config.nodeName(), false, false);
        }
        try {
            MirrorEngine engine = engines.get(path);
            if (engine == null) {
                throw new ApiException(500, path + " is attached here but its engine is not running; see the agent log");
            }
            return engine.check(repair, from);
        } catch (NbdErrorException e) {
            throw new ApiException(e.errno() == NbdProtocol.EINVAL ? 400 : 409, e.getMessage());
        } catch (IOException e) {
            throw new ApiException(503, path + ": the check stopped: " + e.getMessage(), false);
        } finally {
            if (attachedForCheck) {
                detachHere(vg, lv);
            }
        }
    }

    private JsonNode forwardForResult(String node, String path, Map<String, Object> body) {
        Node member = cluster.store().read(s -> s.membership().node(node)).orElseThrow(() -> ApiException.notFound(
            "no node '" + node + "'"));
        try {
            return cluster.client(member.apiAddress(), credentials.secret(), Duration.ofMinutes(30)).post(path, body);
        } catch (AgentClientException e) {
            throw new ApiException(e.status() == 0 ? 503 : e.status(), e.getMessage(), e.mayHaveHappened());
        }
    }

    private boolean reachable(String node) {
        Optional<Node> member = cluster.store().read(s -> s.membership().node(node));
        if (member.isEmpty() || member.get().state() == NodeState.DOWN) {
            return false;
        }
        try {
            cluster.client(member.get().apiAddress(), credentials.secret(), Duration.ofSeconds(3)).get("/v1/health");
            return true;
        } catch (AgentClientException e) {
            return false;
        }
    }

    private void forward(String node, String path, Map<String, Object> body) {
        Node member = cluster.store().read(s -> s.membership().node(node)).orElseThrow(() -> ApiException.notFound(
            "no node '" + node + "'; 'nines cluster status' lists them"));
        if (member.state() == NodeState.DOWN) {
            throw new ApiException(503, "node '" + node + "' is declared down; choose a node that is up", false);
        }
        try {
            cluster.client(member.apiAddress(), credentials.secret(), Duration.ofSeconds(60)).post(path, body);
        } catch (AgentClientException e) {
            throw new ApiException(e.status() == 0 ? 503 : e.status(), e.status() == 0
                ? "node '" + node + "' cannot be reached (" + e.getMessage() + "); is its agent running?" : e.getMessage(),
                e.mayHaveHappened());
        }
    }
}
