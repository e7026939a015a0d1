package fivenines.agent.api;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.cluster.ClusterService;
import fivenines.manager.fence.FenceConfig;
import fivenines.manager.fence.FenceMethod;
import fivenines.manager.fence.Fencer;
import fivenines.manager.fence.ProcessFenceAgent;
import fivenines.model.command.ChangeConfig;

import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Fence devices and each node's fence methods (kept as config keys, as a cman import writes
 * them), and {@code fence test}: every device of a node asked for its power status.
 */
public final class FenceRoutes {
    static final Duration AGENT_TIMEOUT = Duration.ofSeconds(20);
    private final ClusterService cluster;

    public FenceRoutes(ClusterService cluster) {
        this.cluster = cluster;
    }

    public void register(Router router) {
        router.add("GET", "/v1/fence", r -> list());
        router.add("POST", "/v1/fence/devices", this::addDevice);
        router.add("DELETE", "/v1/fence/devices/{name}", r -> change(f -> f.removeDevice(r.path("name"))));
        router.add("POST", "/v1/fence/nodes/{node}/methods", this::addMethod);
        router.add("DELETE", "/v1/fence/nodes/{node}/methods/{method}",
            r -> change(f -> f.removeMethod(r.path("node"), r.path("method"))));
        router.add("POST", "/v1/fence/nodes/{node}/test", r -> test(r.path("node")));
    }

    private record Snapshot(long version, FenceConfig fence) {
    }

    private Snapshot read() {
        return cluster.store().readLinearizable(s -> new Snapshot(s.configuration().version(),
            new FenceConfig(s.configuration().values())));
    }

    private Object list() {
        FenceConfig fence = read().fence();
        var devices = new ArrayList<Map<String, Object>>();
        fence.devices().values().forEach(d -> devices.add(Map.of("name", d.name(), "agent", d.agent(),
            "options", FenceConfig.shown(d.options()))));
        var nodes = new TreeMap<String, Object>();
        var problems = new ArrayList<String>();
        for (String node : fence.fencedNodes()) {
            try {
                nodes.put(node, fence.methods(node).stream().map(FenceRoutes::describe).toList());
            } catch (IllegalArgumentException e) {
                problems.add(e.getMessage());
            }
        }
        var answer = new LinkedHashMap<String, Object>();
        answer.put("devices", devices);
        answer.put("nodes", nodes);
        answer.put("problems", problems);
        return answer;
    }

    private static Map<String, Object> describe(FenceMethod method) {
        return Map.of("method", method.name(), "manual", method.manual(), "devices", method.steps().stream()
            .map(s -> Map.of("device", s.device().name(), "agent", s.device().agent(), "options", FenceConfig.shown(s.nodeOptions())))
            .toList());
    }

    private Object addDevice(ApiRequest request) {
        JsonNode body = request.json();
        String name = request.requireText("name");
        String agent = request.requireText("agent");
        var options = strings(body.path("options"), "options");
        return change(f -> f.addDevice(name, agent, options));
    }

    private Object addMethod(ApiRequest request) {
        JsonNode body = request.json();
        String method = request.requireText("method");
        var devices = new ArrayList<String>();
        body.path("devices").forEach(d -> devices.add(d.asText()));
        var options = strings(body.path("options"), "options");
        return change(f -> f.addMethod(request.path("node"), method, devices, options));
    }

    private static Map<String, String> strings(JsonNode node, String field) {
        var map = new TreeMap<String, String>();
        node.fields().forEachRemaining(e -> {
            if (!e.getValue().isValueNode()) {
                throw ApiException.badRequest("'" + field + "." + e.getKey() + "' must be a string");
            }
            map.put(e.getKey(), e.getValue().asText());
        });
        return map;
    }

    /** Computes the change from the config as read, and applies it only if nothing changed the config meanwhile. */
    private Object change(Function<FenceConfig, FenceConfig.Change> what) {
        Snapshot before = read();
        FenceConfig.Change change;
        try {
            change = what.apply(before.fence());
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(e.getMessage() + "; nothing was changed");
        }
        Object version = ApiException.valueOf(cluster.store().submitAndWait(
            new ChangeConfig(change.set(), change.unset(), before.version())));
        return Map.of("configVersion", version, "set", change.set().keySet(), "unset", change.unset());
    }

    private Object test(String node) {
        List<FenceMethod> methods;
        try {
            methods = read().fence().methods(node);
        } catch (IllegalArgumentException e) {
            throw ApiException.conflict(e.getMessage());
        }
        if (methods.isEmpty()) {
            throw ApiException.notFound("node '" + node + "' has no fence method; add one with 'nines fence method add "
                + node + " METHOD --device DEVICE'");
        }
        var attempts = new Fencer(new ProcessFenceAgent(), InstantSource.system(), AGENT_TIMEOUT, 1).check(node, methods);
        return Map.of("node", node, "ok", attempts.stream().allMatch(Fencer.Attempt::ok), "results", attempts.stream()
            .map(a -> Map.of("method", a.method(), "device", a.device(), "ok", a.ok(), "result", a.result())).toList());
    }
}
