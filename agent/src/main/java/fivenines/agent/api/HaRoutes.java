package fivenines.agent.api;

import fivenines.agent.cluster.ClusterService;
import fivenines.agent.ha.LeaseKeeper;
import fivenines.model.config.LeaseSettings;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.RecordFencing;
import fivenines.model.ha.FenceState;
import fivenines.model.vm.VmRecord;
import fivenines.store.StoreStatus;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * High availability: {@code GET /v1/ha/status} (each node's lease, when it was last heard, its
 * fencing; each VM's HA state and why) and {@code POST /v1/fence/ack/{node}}, an operator's
 * confirmation that a node declared down is off (for fence_manual, or when no method is left).
 */
public final class HaRoutes {
    private final ClusterService cluster;
    private final LeaseKeeper leases;

    public HaRoutes(ClusterService cluster, LeaseKeeper leases) {
        this.cluster = cluster;
        this.leases = leases;
    }

    public void register(Router router) {
        router.add("GET", "/v1/ha/status", r -> status());
        router.add("POST", "/v1/fence/ack/{node}", r -> {
            String node = r.path("node");
            var fencing = ApiException.valueOf(cluster.store().submitAndWait(new RecordFencing(node, FenceState.ACKNOWLEDGED,
                "an operator confirmed that '" + node + "' is off ('nines fence ack')")));
            return Map.of("node", node, "fencing", fencing);
        });
    }

    private Object status() {
        var store = cluster.store();
        StoreStatus storeStatus = store.status();
        var heard = new HashMap<String, Long>();
        storeStatus.peers().forEach(p -> heard.put(p.name(), p.lastContactMillis()));
        boolean leader = store.isLeader();
        Instant now = leases.clock().instant();
        return store.readLinearizable(s -> {
            LeaseSettings settings;
            try {
                settings = LeaseSettings.from(s.configuration()::get);
            } catch (IllegalArgumentException e) {
                settings = leases.lease().settings();
            }
            var answer = new LinkedHashMap<String, Object>();
            answer.put("node", store.nodeName());
            answer.put("leader", storeStatus.leader());
            answer.put("watchdog", leases.watchdog().description());
            answer.put("lease", Map.of("lengthMillis", settings.length().toMillis(), "renewMillis",
                settings.renewEvery().toMillis(), "stopAheadMillis", settings.stopAhead().toMillis(), "clockRateMargin",
                settings.clockRateMargin(), "thisNode", leases.mayServe() ? "held" : "not held: " + leases.lease().why()));
            var nodes = new ArrayList<Map<String, Object>>();
            for (Node node : s.membership().nodes()) {
                var row = new LinkedHashMap<String, Object>();
                row.put("name", node.name());
                row.put("state", node.state().name().toLowerCase(java.util.Locale.ROOT));
                row.put("witness", node.witness());
                row.put("lastHeardMillis", node.name().equals(store.nodeName()) ? Long.valueOf(0)
                    : leader ? heard.get(node.name())
                    : node.name().equals(storeStatus.leader()) && storeStatus.leaderContactMillis() >= 0
                    ? Long.valueOf(storeStatus.leaderContactMillis()) : null);
                Duration sinceRenewal = Duration.between(leases.watch().lastKnown(node.name()), now);
                Duration left = leases.watch().remaining(node.name(), settings, now);
                row.put("lastRenewalMillis", sinceRenewal.toMillis());
                row.put("lease", node.state() == NodeState.UP && left.compareTo(Duration.ZERO) > 0 ? "held"
                    : left.isZero() ? "ended" : "ends in at most " + left.toMillis() + " ms");
                var fencing = s.fencing().of(node.name());
                row.put("fencing", fencing.map(f -> f.state().name().toLowerCase(java.util.Locale.ROOT)).orElse(
                    node.state() == NodeState.DOWN ? "storage fenced (epochs moved)" : "-"));
                row.put("fencingDetail", fencing.map(f -> f.detail()).orElse(null));
                row.put("maintenance", s.maintenance().of(node.name()).map(m -> m.returning().isEmpty() ? "on"
                    : "on, " + m.returning().size() + " VM(s) to bring back: " + String.join(", ", m.returning())).orElse("-"));
                nodes.add(row);
            }
            answer.put("nodes", nodes);
            var vms = new ArrayList<Map<String, Object>>();
            for (VmRecord vm : s.vms().vms()) {
                var row = new LinkedHashMap<String, Object>();
                row.put("name", vm.name());
                row.put("desired", vm.desired());
                row.put("phase", vm.phase());
                row.put("node", vm.node());
                row.put("ha", vm.definition().ha() ? "on" : "off");
                row.put("priority", vm.definition().priority());
                row.put("antiAffinity", vm.definition().antiAffinity());
                row.put("haState", vm.ha() == null ? null : vm.ha().state().name().toLowerCase(java.util.Locale.ROOT));
                row.put("why", vm.ha() == null ? null : vm.ha().why());
                row.put("relocations", vm.ha() == null ? 0 : vm.ha().relocations());
                vms.add(row);
            }
            answer.put("vms", vms);
            return answer;
        });
    }
}
