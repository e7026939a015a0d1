package fivenines.agent.builtin;

import fivenines.agent.cluster.ClusterService;
import fivenines.agent.ha.HaManager;
import fivenines.agent.ha.LeaseKeeper;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.SetNodeState;
import fivenines.plugin.Health;
import fivenines.plugin.Plugin;
import fivenines.plugin.PluginCommand;
import fivenines.plugin.PluginContext;
import fivenines.model.config.LeaseSettings;
import fivenines.model.config.Settings;
import fivenines.manager.liveness.Liveness;
import fivenines.store.ClusterStore;
import fivenines.store.StoreStatus;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Runs on whichever node leads the store: hears every node through Raft's own heartbeats and
 * acts on {@link Liveness}'s decisions (a node silent past {@code cluster.dead_after_seconds} is
 * declared DOWN and loses its locks, UP again when heard; a new leader waits that long before it
 * declares anyone down; a fencing-storm guard), and keeps the Raft group's voters and listeners
 * matching the nodes in the store. On every node it keeps the node's lease ({@link LeaseKeeper});
 * on the leader it also fences dead nodes and recovers their HA VMs ({@link HaManager}).
 */
public final class ManagerPlugin implements Plugin {
    private static final Logger LOG = LoggerFactory.getLogger(ManagerPlugin.class);
    /** How often the leader looks at the HA VMs of dead nodes (a fencing finished, a lease ended). */
    static final long HA_TICK_MILLIS = 250;
    private final ClusterService cluster;
    private final LeaseKeeper leases;
    private final HaManager ha;
    private ScheduledExecutorService timer;
    private volatile String lastHaProblem = "";
    private volatile String lastProblem = "";
    /**
     * When this node last became the leader, as the manager first saw it lead, or when its judging last resumed after
     * a stall (the leases' monotonic clock); null while it does not lead.
     */
    private volatile Instant leaderSince;
    /** How long ago each follower last acknowledged something new: what hears a node that is down. */
    private final Liveness.Progress progress = new Liveness.Progress();
    /** When the previous judging ended (the leases' clock). */
    private Instant lastJudged;
    /** A gap between two judgings longer than this is a stall of this agent: it judges afterwards as a new leader. */
    static final Duration STALL = Duration.ofSeconds(1);
    /** How often the leader judges liveness (a quarter of a second of each detection at most). */
    static final long LIVENESS_TICK_MILLIS = 250;
    private String lastNote = "";

    public ManagerPlugin(ClusterService cluster, LeaseKeeper leases, HaManager ha) {
        this.cluster = cluster;
        this.leases = leases;
        this.ha = ha;
    }

    @Override
    public String name() {
        return "manager";
    }

    @Override
    public String description() {
        return "this node's lease; on the leader: node liveness, lock release of dead nodes, Raft membership, fencing"
            + " and recovery of HA VMs";
    }

    @Override
    public void start(PluginContext context) {
        leases.start();
        timer = Executors.newSingleThreadScheduledExecutor(context.threads("liveness"));
        timer.scheduleWithFixedDelay(this::tick, 1000, LIVENESS_TICK_MILLIS, TimeUnit.MILLISECONDS);
        timer.scheduleWithFixedDelay(this::haTick, 1000, HA_TICK_MILLIS, TimeUnit.MILLISECONDS);
    }

    @Override
    public void stop() throws InterruptedException {
        timer.shutdownNow();
        timer.awaitTermination(5, TimeUnit.SECONDS);
        leases.stop();
    }

    /** Recovery of the HA VMs of dead nodes: only on the leader, and only once it has led long enough to judge. */
    void haTick() {
        try {
            if (!cluster.inCluster() || !cluster.store().isLeader() || leaderSince == null) {
                return;
            }
            ha.tick();
            lastHaProblem = "";
        } catch (RuntimeException e) {
            if (!String.valueOf(e.getMessage()).equals(lastHaProblem)) {
                LOG.warn("HA step failed: {}", e.getMessage());
            }
            lastHaProblem = String.valueOf(e.getMessage());
        }
    }

    void tick() {
        try {
            if (!cluster.inCluster()) {
                leaderSince = null;
                lastJudged = null;
                return;
            }
            if (!cluster.store().isLeader()) {
                leaderSince = null;
                lastJudged = null;
                progress.clear();
                noteFollowing(cluster.store());
                return;
            }
            var store = cluster.store();
            StoreStatus status = store.status();
            long deadAfterMillis = store.read(s -> Settings.deadAfter(key -> s.configuration().get(key)))
                .toMillis();
            List<Node> nodes = store.read(s -> List.copyOf(s.membership().nodes()));
            var silent = new HashMap<String, Long>();
            status.peers().forEach(p -> silent.put(p.name(), p.lastContactMillis()));
            // a node that is up is heard through its lease renewals too: Raft's last-contact time also moves when the
            // leader only sends to a peer, so a dead one can look heard for seconds; one that has renewed here since
            // this replica started counts as silent for as long as no renewal of it was known. A node that is down
            // is refused renewal, so only Raft can hear it again: by its match index moving (Liveness.Progress)
            Instant monotonicNow = leases.clock().instant();
            var up = new java.util.HashSet<String>();
            nodes.stream().filter(n -> n.state() == NodeState.UP).forEach(n -> up.add(n.name()));
            status.peers().forEach(p -> progress.observe(p.name(), p.matchIndex(), !up.contains(p.name()), monotonicNow));
            silent.replaceAll((node, raft) -> !up.contains(node) ? progress.silentMillis(node, monotonicNow)
                : leases.watch().renewalKnown(node).map(seen -> Math.max(raft, Duration.between(seen, monotonicNow).toMillis()))
                .orElse(raft));
            Instant since = Liveness.judgingSince(leaderSince, lastJudged, monotonicNow, STALL);
            boolean resumed = leaderSince != null && !since.equals(leaderSince);
            leaderSince = since;
            // every live node renews with a new leader within a few renewal periods: one that has not, after that,
            // is not waited for the whole limit (the leader's own death is then found an election late, not a limit late)
            LeaseSettings lease;
            try {
                lease = store.read(s -> LeaseSettings.from(key -> s.configuration().get(key)));
            } catch (IllegalArgumentException wrong) {
                lease = LeaseSettings.DEFAULTS; // the lease keeper says what is wrong; liveness goes on
            }
            Duration grace = lease.renewEvery().multipliedBy(2).plusMillis(500);
            if (resumed) {
                LOG.warn("the manager did not judge liveness for {} ms (a long pause of this agent, or a machine too loaded"
                    + " to run it): it judges as a new leader would, so a node that renews within {} ms is not declared down",
                    Duration.between(lastJudged, monotonicNow).toMillis(), grace.toMillis());
            }
            var heardSinceLeading = new java.util.HashSet<String>();
            for (Node node : nodes) {
                leases.watch().renewalKnown(node.name()).filter(seen -> seen.isAfter(since))
                    .ifPresent(seen -> heardSinceLeading.add(node.name()));
            }
            var decision = Liveness.decide(nodes, cluster.store().nodeName(), silent, Duration.ofMillis(deadAfterMillis),
                monotonicNow, since, grace, heardSinceLeading);
            decision.notes().forEach(note -> {
                if (!note.equals(lastNote)) {
                    LOG.warn("{}", note);
                }
            });
            lastNote = decision.notes().isEmpty() ? "" : decision.notes().getLast();
            for (SetNodeState command : decision.commands()) {
                store.submitAndWait(command);
            }
            boolean anyVoter = nodes.stream().anyMatch(Node::voter);
            if (anyVoter && !cluster.raftMembersMatchState()) {
                LOG.info("Raft members {} / {} differ from the store's nodes: reconciling", status.voters(), status.listeners());
                cluster.reconcileRaftMembers();
            }
            lastProblem = "";
        } catch (RuntimeException e) {
            lastProblem = e.getMessage();
            LOG.debug("manager tick failed", e);
        } finally {
            if (leaderSince != null) {
                lastJudged = leases.clock().instant();
            }
        }
    }

    /**
     * On a follower: when it last heard its leader and how far its log reached then, so that, should it lead next,
     * the renewals it then applies from that leader's term are dated when they can have been heard (LeaseWatch).
     */
    private void noteFollowing(ClusterStore store) {
        long termBefore = store.currentTerm();
        long logEnd = store.lastLogIndex();
        StoreStatus status = store.status();
        if (status.leader() != null && status.leaderContactMillis() >= 0 && status.term() == termBefore) {
            Instant monotonicNow = leases.clock().instant();
            leases.watch().following(termBefore, logEnd, monotonicNow.minusMillis(status.leaderContactMillis()));
        }
    }

    @Override
    public Health health() {
        return lastProblem.isEmpty() ? Health.ok(cluster.inCluster() && cluster.store().isLeader() ? "managing" : "standing by")
            : Health.degraded(lastProblem);
    }

    @Override
    public Map<String, PluginCommand> commands() {
        return Map.of("status", PluginCommand.of("status: what the manager sees of each node", a -> {
            var answer = new LinkedHashMap<String, Object>();
            answer.put("leader", cluster.inCluster() && cluster.store().isLeader());
            answer.put("peers", cluster.inCluster() ? cluster.store().status().peers() : List.of());
            answer.put("lastProblem", lastProblem);
            return answer;
        }));
    }
}
