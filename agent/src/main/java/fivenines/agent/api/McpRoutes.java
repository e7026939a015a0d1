package fivenines.agent.api;

import fivenines.agent.plugin.PluginHost;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Run-time control of the agent, as the seed's mcp: plugins, threads, exit. */
public final class McpRoutes {
    private final PluginHost host;
    private final Runnable exit;

    public McpRoutes(PluginHost host, Runnable exit) {
        this.host = host;
        this.exit = exit;
    }

    public void register(Router router) {
        router.add("GET", "/v1/mcp/plugins", r -> host.list());
        router.add("POST", "/v1/mcp/plugins/load", r -> Map.of("loaded", host.load(Path.of(r.requireText("path")))));
        router.add("POST", "/v1/mcp/plugins/{name}/{action}", this::act);
        router.add("GET", "/v1/mcp/threads", r -> threads());
        router.add("POST", "/v1/mcp/exit", r -> {
            Thread.ofPlatform().name("agent-exit").start(exit);
            return Map.of("exiting", true);
        });
    }

    private Object act(ApiRequest request) {
        String name = request.path("name");
        String action = request.path("action");
        switch (action) {
            case "start" -> host.start(name);
            case "stop" -> {
                if (name.equals("api")) {
                    throw ApiException.conflict("the api plugin carries this request and cannot stop itself; use 'nines mcp exit'");
                }
                host.stop(name);
            }
            case "unload" -> {
                host.unload(name);
                return Map.of("unloaded", name);
            }
            case "tell" -> {
                var arguments = new ArrayList<String>();
                request.json().path("arguments").forEach(n -> arguments.add(n.asText()));
                String command = request.requireText("command");
                Object result = host.tell(name, command, arguments);
                return Map.of("plugin", name, "command", command, "result", result == null ? "" : result);
            }
            default -> throw ApiException.badRequest("unknown plugin action '" + action + "'; use start, stop, unload or tell");
        }
        return host.info(name);
    }

    private static List<Map<String, Object>> threads() {
        return Thread.getAllStackTraces().keySet().stream()
            .sorted(Comparator.comparing(Thread::getName))
            .map(t -> {
                var row = new LinkedHashMap<String, Object>();
                row.put("name", t.getName());
                row.put("id", t.threadId());
                row.put("state", t.getState().name());
                row.put("daemon", t.isDaemon());
                row.put("group", t.getThreadGroup() == null ? "" : t.getThreadGroup().getName());
                return (Map<String, Object>) row;
            })
            .toList();
    }
}
