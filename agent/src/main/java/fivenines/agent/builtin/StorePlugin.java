package fivenines.agent.builtin;

import fivenines.agent.cluster.ClusterService;
import fivenines.plugin.Health;
import fivenines.plugin.Plugin;
import fivenines.plugin.PluginCommand;
import fivenines.plugin.PluginContext;

import java.util.Map;

/** The cluster store replica (Ratis), recovered from disk at start when this node is in a cluster. */
public final class StorePlugin implements Plugin {
    private final ClusterService cluster;

    public StorePlugin(ClusterService cluster) {
        this.cluster = cluster;
    }

    @Override
    public String name() {
        return "store";
    }

    @Override
    public String description() {
        return "cluster store: embedded Raft replica holding the desired state";
    }

    @Override
    public void start(PluginContext context) {
        cluster.start();
    }

    @Override
    public void stop() {
        cluster.close();
    }

    @Override
    public Health health() {
        if (!cluster.inCluster()) {
            return Health.ok("not in a cluster yet");
        }
        var status = cluster.store().status();
        return status.leader() == null ? Health.degraded("no leader (term " + status.term() + ")")
            : Health.ok("leader " + status.leader() + ", applied index " + status.appliedIndex());
    }

    @Override
    public Map<String, PluginCommand> commands() {
        return Map.of(
            "status", PluginCommand.of("status: the Raft view of this replica", a -> cluster.store().status()),
            "reconcile", PluginCommand.of("reconcile: make Raft voters and listeners match the nodes in the store", a -> {
                cluster.reconcileRaftMembers();
                return cluster.store().status();
            }));
    }
}
