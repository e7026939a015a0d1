package fivenines.agent.ha;

import fivenines.agent.cluster.ClusterService;
import fivenines.manager.fence.FenceAgent;
import fivenines.manager.fence.FenceConfig;
import fivenines.manager.fence.FenceMethod;
import fivenines.manager.fence.Fencer;
import fivenines.model.config.LeaseSettings;
import fivenines.manager.recovery.RecoveryPlanner;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.RecordFencing;
import fivenines.model.command.RecoverVm;
import fivenines.model.ha.FenceState;
import fivenines.model.ha.NodeFencing;
import fivenines.model.state.Result;
import fivenines.model.vm.NodeResources;
import fivenines.model.vm.VmRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The acting part of recovery, on the store's leader: gathers what {@link RecoveryPlanner} needs
 * (the state, the dead nodes' leases from this replica's {@link LeaseKeeper#watch}), submits its
 * commands, and runs the fencings it asks for, each on its own thread, recording every step in the
 * store ({@link RecordFencing}) and every agent run in the log.
 */
public final class HaManager {
    private static final Logger LOG = LoggerFactory.getLogger(HaManager.class);
    /** Our own limit on one fence agent's run. */
    static final Duration AGENT_TIMEOUT = Duration.ofSeconds(20);
    /** How long after a failed round the node is fenced again. */
    static final Duration RETRY_AFTER = Duration.ofSeconds(10);
    private final ClusterService cluster;
    private final LeaseKeeper leases;
    private final FenceAgent agents;
    private final InstantSource clock;
    private final Set<String> fencingHere = ConcurrentHashMap.newKeySet();
    private final Map<String, Instant> failedAt = new ConcurrentHashMap<>();
    private String lastNotes = "";
    private final fivenines.agent.metrics.HaCounters counters = new fivenines.agent.metrics.HaCounters();

    public HaManager(ClusterService cluster, LeaseKeeper leases, FenceAgent agents) {
        this.cluster = cluster;
        this.leases = leases;
        this.agents = agents;
        this.clock = leases.clock();
    }

    /** One step, on the leader: plan, record, fence. */
    public void tick() {
        var store = cluster.store();
        Instant now = clock.instant();
        record Inputs(List<Node> nodes, List<VmRecord> vms, Map<String, NodeResources> resources,
                      Map<String, NodeFencing> fencing, Map<String, String> config, Set<String> maintenance) {
        }
        Inputs in = store.read(s -> {
            var resources = new HashMap<String, NodeResources>();
            s.membership().nodes().forEach(n -> s.vms().resources(n.name()).ifPresent(r -> resources.put(n.name(), r)));
            var fencing = new HashMap<String, NodeFencing>();
            s.fencing().all().forEach(f -> fencing.put(f.node(), f));
            return new Inputs(List.copyOf(s.membership().nodes()), List.copyOf(s.vms().vms()), resources, fencing,
                Map.copyOf(s.configuration().values()), s.maintenance().all().stream().map(m -> m.node())
                .collect(java.util.stream.Collectors.toUnmodifiableSet()));
        });
        LeaseSettings settings = LeaseSettings.from(key -> java.util.Optional.ofNullable(in.config().get(key)));
        var remaining = new HashMap<String, Duration>();
        for (Node node : in.nodes()) {
            if (node.state() == NodeState.DOWN) {
                remaining.put(node.name(), leases.watch().remaining(node.name(), settings, now));
            }
        }
        int maxRelocations = Integer.parseInt(in.config().getOrDefault("ha.max_relocate",
            String.valueOf(RecoveryPlanner.Settings.DEFAULTS.maxRelocations())));
        var plan = RecoveryPlanner.plan(new RecoveryPlanner.Input(in.nodes(), in.vms(), in.resources(), in.fencing(), remaining,
            Set.copyOf(fencingHere), new RecoveryPlanner.Settings(maxRelocations), in.maintenance()));
        String notes = String.join("; ", plan.notes());
        if (!notes.isEmpty() && !notes.equals(lastNotes)) {
            LOG.warn("HA: {}", notes);
        }
        lastNotes = notes;
        for (RecoverVm command : plan.commands()) {
            Result result = store.submitAndWait(command);
            if (result instanceof Result.Applied && command.to() != null) {
                counters.failedOver();
            }
            if (result instanceof Result.Rejected rejected) {
                LOG.info("HA: VM {}: {}", command.name(), rejected.message());
            } else if (command.to() == null) {
                LOG.info("HA: VM {}: {} ({})", command.name(), command.state(), command.why());
            }
        }
        for (String node : plan.fence()) {
            Instant failed = failedAt.get(node);
            if (failed != null && now.isBefore(failed.plus(RETRY_AFTER))) {
                continue;
            }
            if (fencingHere.add(node)) {
                Thread.ofVirtual().name("fence-" + node).start(() -> fence(node, in.config()));
            }
        }
    }

    private void fence(String node, Map<String, String> config) {
        try {
            List<FenceMethod> methods;
            try {
                methods = new FenceConfig(config).methods(node);
            } catch (IllegalArgumentException e) {
                record(node, FenceState.WAITING_FOR_ACK, "its fence methods cannot run (" + e.getMessage() + "); make sure '"
                    + node + "' is off, then run 'nines fence ack " + node + "'");
                return;
            }
            if (methods.isEmpty()) {
                record(node, FenceState.WAITING_FOR_ACK, "node '" + node + "' has no fence method; make sure it is off, then"
                    + " run 'nines fence ack " + node + "' (or add one: 'nines fence method add " + node + " ...')");
                return;
            }
            record(node, FenceState.FENCING, "running " + methods.size() + " fence method(s)");
            LOG.warn("HA: fencing node {} through {}", node, methods.stream().map(FenceMethod::name).toList());
            Fencer.Outcome outcome = new Fencer(agents, InstantSource.system(), AGENT_TIMEOUT, 1).fence(node, methods);
            outcome.attempts().forEach(a -> LOG.info("HA: fence {}", a));
            FenceState state = switch (outcome.status()) {
                case FENCED -> FenceState.FENCED;
                case WAITING_FOR_ACK -> FenceState.WAITING_FOR_ACK;
                case FAILED -> FenceState.FAILED;
            };
            counters.fenceAttempt(state);
            if (state == FenceState.FAILED) {
                failedAt.put(node, clock.instant());
                LOG.error("HA: fencing node {} failed: {}", node, outcome.why());
            } else {
                failedAt.remove(node);
                LOG.warn("HA: node {}: {}", node, outcome.why());
            }
            record(node, state, outcome.why());
        } catch (RuntimeException e) {
            counters.fenceAttempt(FenceState.FAILED);
            failedAt.put(node, clock.instant());
            LOG.error("HA: fencing node {} failed: {}", node, e.getMessage());
        } finally {
            fencingHere.remove(node);
        }
    }

    private void record(String node, FenceState state, String detail) {
        Result result = cluster.store().submitAndWait(new RecordFencing(node, state, detail));
        if (result instanceof Result.Rejected rejected) {
            LOG.info("HA: node {}: {}", node, rejected.message());
        }
    }

    /** Failovers and fence rounds this node's manager made (for /metrics). */
    public fivenines.agent.metrics.HaCounters counters() {
        return counters;
    }

    /** The nodes this leader is fencing now. */
    public Set<String> fencingHere() {
        return Set.copyOf(fencingHere);
    }
}
