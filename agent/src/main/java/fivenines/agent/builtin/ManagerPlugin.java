package fivenines.agent.builtin;

import fivenines.agent.cluster.ClusterService;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.SetNodeState;
import fivenines.plugin.Health;
import fivenines.plugin.Plugin;
import fivenines.plugin.PluginCommand;
import fivenines.plugin.PluginContext;
import fivenines.store.StoreStatus;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Runs on whichever node leads the store: hears every node through Raft's own heartbeats,
 * declares a node DOWN when it has been silent past {@code cluster.dead_after_seconds}
 * (its locks are then released) and UP again when it is heard, and keeps the Raft group's
 * voters and listeners matching the nodes in the store.
 */
public final class ManagerPlugin implements Plugin {
    private static final Logger LOG = LoggerFactory.getLogger(ManagerPlugin.class);
    static final long DEFAULT_DEAD_AFTER_SECONDS = 10;
    private final ClusterService cluster;
    private ScheduledExecutorService timer;
    private volatile String lastProblem = "";

    public ManagerPlugin(ClusterService cluster) {
        this.cluster = cluster;
    }

    @Override
    public String name() {
        return "manager";
    }

    @Override
    public String description() {
        return "on the leader: node liveness, lock release of dead nodes, Raft membership";
    }

    @Override
    public void start(PluginContext context) {
        timer = Executors.newSingleThreadScheduledExecutor(context.threads("liveness"));
        timer.scheduleWithFixedDelay(this::tick, 1, 1, TimeUnit.SECONDS);
    }

    @Override
    public void stop() throws InterruptedException {
        timer.shutdownNow();
        timer.awaitTermination(5, TimeUnit.SECONDS);
    }

    void tick() {
        try {
            if (!cluster.inCluster() || !cluster.store().isLeader()) {
                return;
            }
            var store = cluster.store();
            StoreStatus status = store.status();
            long deadAfterMillis = store.read(s -> s.configuration().get("cluster.dead_after_seconds")
                .map(Long::parseLong).orElse(DEFAULT_DEAD_AFTER_SECONDS)) * 1000;
            List<Node> nodes = store.read(s -> List.copyOf(s.membership().nodes()));
            for (Node node : nodes) {
                if (node.name().equals(cluster.store().nodeName())) {
                    if (node.state() == NodeState.DOWN) {
                        store.submitAndWait(new SetNodeState(node.name(), NodeState.UP));
                    }
                    continue;
                }
                var progress = status.peers().stream().filter(p -> p.name().equals(node.name())).findFirst();
                if (progress.isEmpty()) {
                    continue; // not in the Raft group yet: reconciled below
                }
                boolean silent = progress.get().lastContactMillis() > deadAfterMillis;
                if (silent && node.state() == NodeState.UP) {
                    LOG.warn("node {} silent for {} ms: declaring it down", node.name(), progress.get().lastContactMillis());
                    store.submitAndWait(new SetNodeState(node.name(), NodeState.DOWN));
                } else if (!silent && node.state() == NodeState.DOWN) {
                    LOG.info("node {} is heard again: declaring it up", node.name());
                    store.submitAndWait(new SetNodeState(node.name(), NodeState.UP));
                }
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
