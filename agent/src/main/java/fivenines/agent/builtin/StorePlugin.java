package fivenines.agent.builtin;

import fivenines.agent.cluster.ClusterService;
import fivenines.plugin.Health;
import fivenines.plugin.Plugin;
import fivenines.plugin.PluginCommand;
import fivenines.plugin.PluginContext;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/** The cluster store replica (Ratis), recovered from disk at start when this node is in a cluster. */
public final class StorePlugin implements Plugin {
    private static final Logger LOG = LoggerFactory.getLogger(StorePlugin.class);
    private static final long PROBE_SECONDS = 2;
    private final ClusterService cluster;
    private ScheduledExecutorService probe;

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
        probe = Executors.newSingleThreadScheduledExecutor(context.threads("store-probe"));
        probe.scheduleWithFixedDelay(this::probe, PROBE_SECONDS, PROBE_SECONDS, TimeUnit.SECONDS);
    }

    /**
     * Samples the replica's health so that "no leader for N s" counts from when it began, and
     * after a failed request reads linearizably: the store is healthy again only once a request
     * succeeds, and nothing else may send one on a quiet node.
     */
    void probe() {
        try {
            if (!cluster.inCluster()) {
                return;
            }
            var store = cluster.store();
            store.health();
            if (store.failing()) {
                store.readLinearizable(state -> state.configuration().version());
            }
        } catch (RuntimeException e) {
            LOG.debug("store probe failed: {}", e.getMessage());
        }
    }

    @Override
    public void stop() throws InterruptedException {
        if (probe != null) {
            probe.shutdownNow();
            probe.awaitTermination(5, TimeUnit.SECONDS);
        }
        cluster.close();
    }

    @Override
    public Health health() {
        if (!cluster.inCluster()) {
            return Health.ok("not in a cluster yet");
        }
        var verdict = cluster.store().health();
        return verdict.ok() ? Health.ok(verdict.summary()) : Health.degraded(verdict.summary());
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
