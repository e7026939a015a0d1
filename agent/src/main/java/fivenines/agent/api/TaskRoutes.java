package fivenines.agent.api;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.cluster.ClusterService;
import fivenines.agent.ha.NodeDrains;
import fivenines.agent.storage.VolumeService;
import fivenines.agent.vm.VmService;
import fivenines.block.volume.AttachedVolume;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.codec.Json;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code GET /v1/tasks}: the long work agents report, gathered from every node that is up (each
 * keeps its own: migrations it started, resyncs and checks of the volumes it serves, maintenance
 * and evacuations started through it); {@code ?local=true} only this node's. Nothing is computed
 * here that the agent doing the work did not report: each task carries that agent's own status
 * as {@code status}. Imports and exports run in the CLI (qemu-img over NBD) and are not listed.
 */
public final class TaskRoutes {
    private final String self;
    private final ClusterService cluster;
    private final VmService vms;
    private final VolumeService volumes;
    private final NodeDrains drains;

    public TaskRoutes(String self, ClusterService cluster, VmService vms, VolumeService volumes, NodeDrains drains) {
        this.self = self;
        this.cluster = cluster;
        this.vms = vms;
        this.volumes = volumes;
        this.drains = drains;
    }

    public void register(Router router) {
        router.add("GET", "/v1/tasks", r -> Boolean.parseBoolean(r.query("local", "false")) ? Map.of("tasks", local()) : everywhere());
    }

    private Map<String, Object> everywhere() {
        List<Node> nodes = cluster.store().read(s -> s.membership().nodes().stream().toList());
        var tasks = new ArrayList<Map<String, Object>>();
        var unreachable = new ArrayList<Map<String, Object>>();
        for (Node node : nodes) {
            if (node.name().equals(self)) {
                tasks.addAll(local());
                continue;
            }
            if (node.state() != NodeState.UP) {
                continue;
            }
            try {
                JsonNode answer = vms.client(node.name()).get("/v1/tasks?local=true");
                for (JsonNode task : answer.path("tasks")) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> map = Json.mapper().convertValue(task, LinkedHashMap.class);
                    tasks.add(map);
                }
            } catch (RuntimeException e) {
                unreachable.add(Map.of("node", node.name(), "error", String.valueOf(e.getMessage())));
            }
        }
        // work under way first, then the newest
        tasks.sort(Comparator.comparing((Map<String, Object> t) -> !"running".equals(t.get("state")))
            .thenComparing(t -> String.valueOf(t.getOrDefault("startedAt", "")), Comparator.reverseOrder()));
        var answer = new LinkedHashMap<String, Object>();
        answer.put("tasks", tasks);
        answer.put("unreachable", unreachable);
        return answer;
    }

    /** This node's tasks. */
    List<Map<String, Object>> local() {
        var tasks = new ArrayList<Map<String, Object>>();
        for (Map<String, Object> migration : vms.migrations()) {
            String state = String.valueOf(migration.get("state"));
            var task = task("migration", String.valueOf(migration.get("vm")), "live migration to " + migration.get("destination"),
                state.equals("completed") || state.equals("failed") ? state : "running", migration);
            task.put("startedAt", migration.get("startedAt"));
            task.put("percent", migration.get("percent"));
            task.put("detail", migration.get("error") != null ? migration.get("error") : state);
            tasks.add(task);
        }
        volumes.engines().forEach((path, engine) -> {
            AttachedVolume.Progress progress = engine.progress();
            if (progress == null) {
                return;
            }
            var status = new LinkedHashMap<String, Object>();
            status.put("what", progress.what());
            status.put("bytesDone", progress.bytesDone());
            status.put("bytesLeft", progress.bytesLeft());
            status.put("bytesPerSecond", Math.round(progress.bytesPerSecond()));
            status.put("etaSeconds", progress.etaSeconds());
            var task = task(progress.what().startsWith("resync") ? "resync" : "check", path, progress.what(), "running", status);
            long all = progress.bytesDone() + progress.bytesLeft();
            task.put("percent", all == 0 ? 100.0 : Math.floor(1000.0 * progress.bytesDone() / all) / 10.0);
            task.put("detail", (progress.bytesLeft() >> 20) + " MiB left"
                + (progress.etaSeconds() >= 0 ? ", about " + progress.etaSeconds() + " s" : ""));
            tasks.add(task);
        });
        for (Node node : cluster.store().read(s -> s.membership().nodes().stream().toList())) {
            drains.status(node.name()).ifPresent(drain -> {
                String state = String.valueOf(drain.get("state"));
                var task = task(String.valueOf(drain.get("kind")), node.name(), drain.get("kind") + " of " + node.name(),
                    state, drain);
                task.put("startedAt", drain.get("startedAt"));
                if (drain.get("moves") instanceof List<?> moves) {
                    long done = moves.stream().filter(m -> m instanceof Map<?, ?> move
                        && !List.of("waiting", "migrating").contains(String.valueOf(move.get("state")))).count();
                    task.put("percent", moves.isEmpty() ? 100.0 : Math.floor(1000.0 * done / moves.size()) / 10.0);
                    task.put("detail", done + " of " + moves.size() + " VM(s) moved");
                }
                tasks.add(task);
            });
        }
        return tasks;
    }

    private Map<String, Object> task(String kind, String subject, String title, String state, Map<String, Object> status) {
        var task = new LinkedHashMap<String, Object>();
        task.put("kind", kind);
        task.put("node", self);
        task.put("subject", subject);
        task.put("title", title);
        task.put("state", state);
        task.put("status", status);
        return task;
    }
}
