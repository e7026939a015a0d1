package fivenines.agent.api;

import fivenines.agent.cluster.ClusterService;
import fivenines.agent.ha.NodeDrains;
import fivenines.model.cluster.Node;
import fivenines.model.vm.DesiredState;
import fivenines.model.vm.VmRecord;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Nodes as an operator sees them ({@code GET /v1/nodes}: state, maintenance, VMs, memory) and the
 * verbs that empty one: {@code POST /v1/nodes/{node}/maintenance} ({@code enable} true or false) and
 * {@code POST /v1/nodes/{node}/evacuate}; {@code GET /v1/nodes/{node}/drain} shows how far the last
 * of them, started through this agent, got.
 */
public final class NodeRoutes {
    private final ClusterService cluster;
    private final NodeDrains drains;

    public NodeRoutes(ClusterService cluster, NodeDrains drains) {
        this.cluster = cluster;
        this.drains = drains;
    }

    public void register(Router router) {
        router.add("GET", "/v1/nodes", r -> list());
        router.add("POST", "/v1/nodes/{node}/maintenance", r -> {
            if (!r.json().has("enable") || !r.json().get("enable").isBoolean()) {
                throw ApiException.badRequest("say whether to enable maintenance: {\"enable\": true} or {\"enable\": false}");
            }
            return r.json().get("enable").asBoolean() ? drains.enable(r.path("node")) : drains.disable(r.path("node"));
        });
        router.add("POST", "/v1/nodes/{node}/evacuate", r -> drains.evacuate(r.path("node")));
        router.add("GET", "/v1/nodes/{node}/drain", r -> drains.status(r.path("node")).orElseThrow(() ->
            ApiException.notFound("no maintenance or evacuation of node '" + r.path("node") + "' was started through this agent")));
    }

    private Object list() {
        return cluster.store().readLinearizable(s -> {
            var nodes = new ArrayList<Map<String, Object>>();
            for (Node node : s.membership().nodes()) {
                var row = new LinkedHashMap<String, Object>();
                row.put("name", node.name());
                row.put("role", node.role().name().toLowerCase(Locale.ROOT));
                row.put("state", node.state().name().toLowerCase(Locale.ROOT));
                row.put("witness", node.witness());
                var mark = s.maintenance().of(node.name());
                row.put("maintenance", mark.isPresent());
                row.put("returning", mark.map(m -> m.returning()).orElse(java.util.List.of()));
                var here = s.vms().vms().stream().filter(v -> v.desired() != DesiredState.STOPPED
                    && (node.name().equals(v.node()) || node.name().equals(v.migratingTo()))).toList();
                row.put("vms", here.stream().map(VmRecord::name).toList());
                s.vms().resources(node.name()).ifPresent(res -> {
                    row.put("memoryMib", res.memoryMib());
                    row.put("freeMemoryMib", res.memoryMib() - here.stream().mapToLong(v -> v.definition().memoryMib()).sum());
                });
                drains.status(node.name()).ifPresent(d -> row.put("drain", d));
                nodes.add(row);
            }
            return Map.of("nodes", nodes);
        });
    }
}
