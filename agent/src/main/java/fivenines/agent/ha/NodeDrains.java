package fivenines.agent.ha;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.api.ApiException;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.agent.cluster.ClusterService;
import fivenines.agent.vm.VmService;
import fivenines.manager.maintenance.MaintenancePlanner;
import fivenines.manager.maintenance.MaintenancePlanner.Move;
import fivenines.model.codec.Json;
import fivenines.model.command.SetMaintenance;
import fivenines.model.ha.NodeMaintenance;
import fivenines.model.vm.NodeResources;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The acting part of 'nines node maintenance enable|disable' and 'nines node evacuate': asks
 * {@link MaintenancePlanner} what moves (a refusal changes nothing), records the maintenance mark in
 * the store first (so nothing new is placed there meanwhile), then live-migrates the VMs one after
 * the other on a thread of its own; {@link #status} shows how far it got.
 */
public final class NodeDrains {
    private static final Logger LOG = LoggerFactory.getLogger(NodeDrains.class);
    /** Our own limit on one live migration. */
    private static final Duration MIGRATION_LIMIT = Duration.ofMinutes(10);
    private final ClusterService cluster;
    private final VmService vms;
    private final String self;
    private final Map<String, Drain> drains = new ConcurrentHashMap<>();

    public NodeDrains(ClusterService cluster, VmService vms, String self) {
        this.cluster = cluster;
        this.vms = vms;
        this.self = self;
    }

    /** What is being done to a node: its moves and how each went. */
    private static final class Drain {
        final String node;
        final String kind;
        final List<Move> moves;
        final List<String> staying;
        final Map<String, String> outcomes = new ConcurrentHashMap<>();
        volatile String state = "running";
        final java.time.Instant started = java.time.Instant.now();

        Drain(String node, String kind, MaintenancePlanner.Plan plan) {
            this.node = node;
            this.kind = kind;
            this.moves = plan.moves();
            this.staying = plan.staying();
        }

        Map<String, Object> describe() {
            var map = new LinkedHashMap<String, Object>();
            map.put("node", node);
            map.put("kind", kind);
            map.put("state", state);
            map.put("startedAt", started.toString());
            var rows = new ArrayList<Map<String, Object>>();
            for (Move move : moves) {
                rows.add(Map.of("vm", move.vm(), "from", move.from(), "to", move.to(),
                    "state", outcomes.getOrDefault(move.vm(), "waiting")));
            }
            map.put("moves", rows);
            map.put("staying", staying);
            return map;
        }
    }

    public Map<String, Object> enable(String node) {
        return start(node, "maintenance", () -> {
            var plan = plan(in -> MaintenancePlanner.drain(in, node));
            ApiException.valueOf(cluster.store().submitAndWait(new SetMaintenance(node, true,
                plan.moves().stream().map(Move::vm).toList())));
            return plan;
        });
    }

    public Map<String, Object> evacuate(String node) {
        return start(node, "evacuation", () -> plan(in -> MaintenancePlanner.drain(in, node)));
    }

    public Map<String, Object> disable(String node) {
        return start(node, "return", () -> {
            var plan = plan(in -> MaintenancePlanner.bringBack(in, node));
            ApiException.valueOf(cluster.store().submitAndWait(new SetMaintenance(node, false, List.of())));
            return plan;
        });
    }

    public Optional<Map<String, Object>> status(String node) {
        return Optional.ofNullable(drains.get(node)).map(Drain::describe);
    }

    private interface Planning {
        MaintenancePlanner.Plan plan();
    }

    private synchronized Map<String, Object> start(String node, String kind, Planning planning) {
        Drain running = drains.get(node);
        if (running != null && running.state.equals("running")) {
            throw ApiException.conflict("node '" + node + "': its " + running.kind + " is under way; wait for it"
                + " ('nines node list' shows it), then try again");
        }
        var drain = new Drain(node, kind, planning.plan());
        drains.put(node, drain);
        LOG.info("node {}: {}: moving {}", node, kind, drain.moves);
        Thread.ofVirtual().name(kind + "-" + node).start(() -> run(drain));
        return drain.describe();
    }

    private MaintenancePlanner.Plan plan(java.util.function.Function<MaintenancePlanner.Input, MaintenancePlanner.Plan> decide) {
        MaintenancePlanner.Input in = cluster.store().readLinearizable(s -> {
            var resources = new HashMap<String, NodeResources>();
            s.membership().nodes().forEach(n -> s.vms().resources(n.name()).ifPresent(r -> resources.put(n.name(), r)));
            var marks = new HashMap<String, NodeMaintenance>();
            s.maintenance().all().forEach(m -> marks.put(m.node(), m));
            return new MaintenancePlanner.Input(List.copyOf(s.membership().nodes()), List.copyOf(s.vms().vms()), resources, marks);
        });
        try {
            return decide.apply(in);
        } catch (MaintenancePlanner.Refusal refusal) {
            throw ApiException.conflict(refusal.getMessage() + "; nothing was changed");
        }
    }

    private void run(Drain drain) {
        boolean failed = false;
        for (Move move : drain.moves) {
            drain.outcomes.put(move.vm(), "migrating");
            String outcome;
            try {
                outcome = migrate(move);
            } catch (RuntimeException e) {
                outcome = "failed: " + e.getMessage();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                outcome = "failed: interrupted";
            }
            failed |= !outcome.equals("completed");
            drain.outcomes.put(move.vm(), outcome);
            LOG.info("node {}: {}: VM {} {} -> {}: {}", drain.node, drain.kind, move.vm(), move.from(), move.to(), outcome);
        }
        drain.state = failed ? "failed" : "completed";
    }

    /** One live migration, started where the VM runs; waits for its end. */
    private String migrate(Move move) throws InterruptedException {
        String path = "/v1/vms/" + AgentClient.encode(move.vm()) + "/migrate";
        if (move.from().equals(self)) {
            vms.requireMigratable(cluster.store().readLinearizable(s -> s.vms().require(move.vm())), move.to());
            vms.migrate(move.vm(), move.to(), false);
        } else {
            post(move.from(), path, Map.of("node", move.to(), "wait", false));
        }
        long deadline = System.nanoTime() + MIGRATION_LIMIT.toNanos();
        while (System.nanoTime() < deadline) {
            Thread.sleep(250);
            Map<String, Object> m = move.from().equals(self) ? vms.migrationStatus(move.vm()).orElse(Map.of())
                : Json.mapper().convertValue(get(move.from(), "/v1/vms/" + AgentClient.encode(move.vm()) + "/migration?node="
                + AgentClient.encode(move.from())), Json.mapper().getTypeFactory().constructMapType(Map.class, String.class,
                Object.class));
            Object state = m.get("state");
            if ("completed".equals(state)) {
                return "completed";
            }
            if ("failed".equals(state)) {
                return "failed: " + m.get("error");
            }
        }
        return "failed: not finished after " + MIGRATION_LIMIT.toMinutes() + " minutes";
    }

    private JsonNode post(String node, String path, Map<String, Object> body) {
        try {
            return vms.client(node).post(path, body);
        } catch (AgentClientException e) {
            throw new IllegalStateException(e.status() == 0 ? "node '" + node + "' cannot be reached (" + e.getMessage() + ")"
                : e.getMessage(), e);
        }
    }

    private JsonNode get(String node, String path) {
        try {
            return vms.client(node).get(path);
        } catch (AgentClientException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }
}
