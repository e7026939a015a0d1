package fivenines.agent.api;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.AgentConfig;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.agent.cluster.ClusterService;
import fivenines.agent.vm.VmService;
import fivenines.model.codec.Json;
import fivenines.model.command.DefineVm;
import fivenines.model.command.RemoveVm;
import fivenines.model.command.SetVmDesired;
import fivenines.model.command.SetVmHa;
import fivenines.model.state.ClusterState;
import fivenines.model.vm.VmDefinition;
import fivenines.model.vm.DesiredState;
import fivenines.model.vm.GuestState;
import fivenines.model.vm.VmRecord;
import fivenines.vm.xen.XenConfigException;
import fivenines.vm.xen.XenConfigParser;
import fivenines.vm.xen.XenDisk;
import fivenines.vm.xen.XenDomainConfig;
import fivenines.vm.xen.XenNic;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/** VMs: definitions, desired state, console and log, live migration; node-local work is forwarded to the node concerned. */
public final class VmRoutes {
    private static final Duration SETTLE = Duration.ofSeconds(90);
    private final AgentConfig config;
    private final ClusterService cluster;
    private final VmService vms;

    public VmRoutes(AgentConfig config, ClusterService cluster, VmService vms) {
        this.config = config;
        this.cluster = cluster;
        this.vms = vms;
    }

    public void register(Router router) {
        router.add("GET", "/v1/vms", r -> cluster.store().readLinearizable(s -> s.vms().vms().stream().map(v -> describe(v, s)).toList()));
        router.add("GET", "/v1/vms/{name}", r -> show(r.path("name")));
        router.add("POST", "/v1/vms", r -> define(r.json(), r.json().path("replace").asBoolean(false)));
        router.add("POST", "/v1/vms/import", this::importXen);
        router.add("DELETE", "/v1/vms/{name}", r -> {
            VmRecord removed = (VmRecord) ApiException.valueOf(cluster.store().submitAndWait(new RemoveVm(r.path("name"))));
            return Map.of("removed", removed.name());
        });
        router.add("POST", "/v1/vms/{name}/start", r -> {
            String name = r.path("name");
            Object shown = desire(name, DesiredState.RUNNING, text(r.json(), "node"), v -> v.phase() == GuestState.RUNNING
                || v.phase() == GuestState.CRASHED || v.phase() == GuestState.PAUSED || v.phase() == GuestState.FAILED);
            VmRecord vm = record(name);
            if (vm.phase() == GuestState.FAILED) {
                throw ApiException.conflict("VM '" + name + "' did not start on " + vm.node() + ": " + vm.detail()
                    + "; fix that, then run 'nines vm start " + name + "' again");
            }
            return shown;
        });
        router.add("POST", "/v1/vms/{name}/stop", r -> {
            String name = r.path("name");
            Predicate<VmRecord> stopped = v -> v.phase() == GuestState.STOPPED || v.phase() == GuestState.CRASHED;
            if (!r.json().path("force").asBoolean(false)) {
                return desire(name, DesiredState.STOPPED, null, stopped);
            }
            // stopped in the store first, then killed: killed while still wanted running, it would be restarted
            ApiException.valueOf(cluster.store().submitAndWait(new SetVmDesired(name, DesiredState.STOPPED, null)));
            VmRecord vm = record(name);
            if (vm.node() != null) {
                onNode(vm.node(), "/v1/vms/" + AgentClient.encode(name) + "/kill", () -> {
                    vms.kill(name);
                    return Map.of();
                });
            }
            return waitFor(name, stopped, SETTLE);
        });
        router.add("POST", "/v1/vms/{name}/restart", r -> {
            String name = r.path("name");
            desire(name, DesiredState.STOPPED, null, v -> v.phase() == GuestState.STOPPED || v.phase() == GuestState.CRASHED);
            return desire(name, DesiredState.RUNNING, null, v -> v.phase() == GuestState.RUNNING);
        });
        router.add("POST", "/v1/vms/{name}/set", r -> change(r.path("name"), r.json()));
        router.add("POST", "/v1/vms/{name}/pause", r -> desire(r.path("name"), DesiredState.PAUSED, null, v -> v.phase() == GuestState.PAUSED));
        router.add("POST", "/v1/vms/{name}/resume", r -> {
            String name = r.path("name");
            VmRecord vm = record(name);
            if (vm.desired() == DesiredState.RUNNING && vm.node() != null) {
                // paused by an I/O error: continue it where it runs (the failed requests are retried)
                onNode(vm.node(), "/v1/vms/" + AgentClient.encode(name) + "/cont", () -> {
                    vms.cont(name);
                    return Map.of();
                });
                return waitFor(name, v -> v.phase() != GuestState.PAUSED || v.detail() == null, Duration.ofSeconds(10));
            }
            return desire(name, DesiredState.RUNNING, null, v -> v.phase() == GuestState.RUNNING);
        });
        router.add("POST", "/v1/vms/{name}/migrate", r -> {
            String name = r.path("name");
            String node = r.requireText("node");
            VmRecord vm = record(name);
            vms.requireMigratable(vm, node);
            boolean wait = r.json().path("wait").asBoolean(false);
            Object started = onNode(vm.node(), "/v1/vms/" + AgentClient.encode(name) + "/migrate",
                Map.of("node", node, "wait", wait), () -> vms.migrate(name, node, wait));
            if (started instanceof JsonNode forwarded && forwarded.has("migration")) {
                started = forwarded.get("migration"); // the source answered with this same route's answer
            }
            var answer = new LinkedHashMap<String, Object>();
            answer.put("source", vm.node());
            answer.put("migration", started);
            return answer;
        });
        router.add("GET", "/v1/vms/{name}/migration", r -> {
            String name = r.path("name");
            String source = r.query("node", null);
            if (source != null && !source.equals(config.nodeName())) {
                return forwardGet(source, "/v1/vms/" + AgentClient.encode(name) + "/migration?node=" + AgentClient.encode(source));
            }
            return vms.migrationStatus(name).orElseThrow(() -> ApiException.notFound("no migration of VM '" + name + "' on "
                + config.nodeName()));
        });
        router.add("GET", "/v1/vms/{name}/console", r -> nodeText(r, "console"));
        router.add("GET", "/v1/vms/{name}/console/stream", r -> consoleFeed(r.path("name")));
        router.add("GET", "/v1/vms/{name}/log", r -> nodeText(r, "log"));
        // node-local steps, called by other agents
        router.add("POST", "/v1/vms/{name}/kill", r -> {
            vms.kill(r.path("name"));
            return Map.of();
        });
        router.add("POST", "/v1/vms/{name}/cont", r -> {
            vms.cont(r.path("name"));
            return Map.of();
        });
        router.add("POST", "/v1/vms/{name}/incoming", r -> vms.prepareIncoming(r.path("name")));
        router.add("POST", "/v1/vms/{name}/incoming/complete", r -> vms.completeIncoming(r.path("name")));
        router.add("POST", "/v1/vms/{name}/incoming/abort", r -> {
            vms.abortIncoming(r.path("name"));
            return Map.of();
        });
    }

    private static String text(JsonNode body, String field) {
        return body.hasNonNull(field) ? body.get(field).asText() : null;
    }

    private VmRecord record(String name) {
        return cluster.store().readLinearizable(s -> s.vms().require(name));
    }

    private Object show(String name) {
        return cluster.store().readLinearizable(s -> describe(s.vms().require(name), s));
    }

    private Object define(JsonNode body, boolean replace) {
        VmDefinition definition;
        try {
            definition = Json.mapper().treeToValue(body.has("definition") ? body.get("definition") : body, VmDefinition.class);
        } catch (Exception e) {
            throw ApiException.badRequest("not a VM definition: " + e.getMessage());
        }
        vms.requireStartable(definition);
        ApiException.valueOf(cluster.store().submitAndWait(new DefineVm(definition, replace)));
        return show(definition.name());
    }

    /**
     * {@code vm set}: HA settings at any time; memory and vCPUs only while the VM is stopped (a
     * running QEMU keeps what it was started with). Everything is checked before anything changes.
     */
    private Object change(String name, JsonNode body) {
        VmRecord vm = record(name);
        Integer memory = body.hasNonNull("memoryMib") ? body.get("memoryMib").asInt() : null;
        Integer vcpus = body.hasNonNull("vcpus") ? body.get("vcpus").asInt() : null;
        Boolean ha = body.hasNonNull("ha") ? body.get("ha").asBoolean() : null;
        Integer priority = body.hasNonNull("priority") ? body.get("priority").asInt() : null;
        String group = text(body, "antiAffinity");
        if ((memory != null || vcpus != null) && vm.desired() != DesiredState.STOPPED) {
            throw ApiException.conflict("VM '" + name + "' is " + vm.desired() + "; stop it before changing its memory or vCPUs"
                + " ('nines vm stop " + name + "'); nothing was changed");
        }
        if (memory != null || vcpus != null) {
            VmDefinition d = vm.definition();
            var changed = new VmDefinition(d.name(), memory == null ? d.memoryMib() : memory, vcpus == null ? d.vcpus() : vcpus,
                d.boot(), d.disks(), d.nics(), d.onCrash(), d.priority(), d.antiAffinity(), d.ha());
            if (ha != null || priority != null || group != null) {
                // one command for all of it: either everything changes or nothing does
                changed = changed.withHa(ha == null ? d.ha() : ha, priority == null ? d.priority() : priority,
                    group == null ? d.antiAffinity() : group.isEmpty() ? null : group);
            }
            ApiException.valueOf(cluster.store().submitAndWait(new DefineVm(changed, true)));
        } else if (ha != null || priority != null || group != null) {
            ApiException.valueOf(cluster.store().submitAndWait(new SetVmHa(name, ha, priority, group)));
        }
        return show(name);
    }

    /** A Xen domain config (xm/xl syntax) becomes a VM definition; every key it cannot honour is reported. */
    private Object importXen(ApiRequest request) {
        JsonNode body = request.json();
        String text = body.path("config").asText(null);
        if (text == null) {
            throw ApiException.badRequest("field 'config' must hold the Xen domain config's text");
        }
        XenDomainConfig xen;
        try {
            xen = XenConfigParser.parse(text);
        } catch (XenConfigException e) {
            throw ApiException.badRequest("cannot read the Xen config: " + e.getMessage());
        }
        var warnings = new ArrayList<>(xen.warnings());
        String name = body.hasNonNull("name") ? body.get("name").asText() : xen.name();
        if (name == null) {
            throw ApiException.badRequest("the Xen config has no 'name'; give one with --name");
        }
        var disks = new ArrayList<VmDefinition.VmDisk>();
        for (XenDisk disk : xen.disks()) {
            switch (disk) {
                case XenDisk.Volume v -> disks.add(new VmDefinition.VmDisk(v.reference(), "virtio", null, v.readOnly()));
                case XenDisk.File f -> warnings.add("disk " + f.path() + " (" + f.guestDevice() + ") is a file on the Xen host: copy it "
                    + "into a volume with 'nines lv import " + f.path() + " VG/LV' and add it; skipped");
            }
        }
        if (!xen.disks().isEmpty()) {
            warnings.add("disks are virtio (/dev/vda, /dev/vdb, ... in order), not " + xen.disks().stream().map(XenDisk::guestDevice).toList()
                + ": a root= naming the Xen device must be changed");
        }
        var nics = new ArrayList<VmDefinition.VmNic>();
        int generated = 0;
        for (XenNic nic : xen.nics()) {
            String mac = nic.mac();
            if (mac == null) {
                mac = generatedMac(name, generated++);
                warnings.add("vif without mac: given " + mac);
            }
            nics.add(new VmDefinition.VmNic(mac, nic.bridge() == null ? "user" : "bridge:" + nic.bridge()));
        }
        String onCrash = xen.onCrash() == null ? "restart" : Set.of("restart", "destroy", "preserve").contains(xen.onCrash())
            ? xen.onCrash() : "restart";
        VmDefinition.VmBoot boot = xen.kernel() == null ? null : new VmDefinition.VmBoot(xen.kernel().toString(),
            xen.initrd() == null ? null : xen.initrd().toString(), xen.commandLine());
        var definition = new VmDefinition(name, xen.memoryMib() == null ? 256 : xen.memoryMib(),
            xen.vcpus() == null ? 1 : xen.vcpus(), boot, disks, nics, onCrash, 0, null);
        if (xen.memoryMib() == null) {
            warnings.add("no memory given: 256 MiB");
        }
        ApiException.valueOf(cluster.store().submitAndWait(new DefineVm(definition, body.path("replace").asBoolean(false))));
        var answer = new LinkedHashMap<String, Object>();
        answer.put("vm", show(name));
        answer.put("warnings", warnings);
        return answer;
    }

    static String generatedMac(String name, int index) {
        int hash = (name + "#" + index).hashCode();
        return String.format("52:54:00:%02x:%02x:%02x", (hash >> 16) & 0xff, (hash >> 8) & 0xff, hash & 0xff);
    }

    private Object desire(String name, DesiredState desired, String node, Predicate<VmRecord> settled) {
        ApiException.valueOf(cluster.store().submitAndWait(new SetVmDesired(name, desired, node)));
        return waitFor(name, settled, SETTLE);
    }

    private Object waitFor(String name, Predicate<VmRecord> settled, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            VmRecord vm = record(name);
            if (settled.test(vm) || System.nanoTime() > deadline) {
                return show(name);
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return show(name);
            }
        }
    }

    private interface Local {
        Object run() throws Exception;
    }

    private Object onNode(String node, String path, Local local) throws Exception {
        return onNode(node, path, Map.of(), local);
    }

    private Object onNode(String node, String path, Map<String, Object> body, Local local) throws Exception {
        if (node.equals(config.nodeName())) {
            return local.run();
        }
        try {
            return vms.client(node).post(path, body);
        } catch (AgentClientException e) {
            throw new ApiException(e.status() == 0 ? 503 : e.status(), e.status() == 0
                ? "node '" + node + "' cannot be reached (" + e.getMessage() + ")" : e.getMessage(), e.mayHaveHappened());
        }
    }

    private Object forwardGet(String node, String path) {
        try {
            return vms.client(node).get(path);
        } catch (AgentClientException e) {
            throw new ApiException(e.status() == 0 ? 503 : e.status(), e.getMessage(), e.mayHaveHappened());
        }
    }

    /** The console followed where the VM runs, read here or from the node it runs on through {@code ?from=}. */
    private ConsoleFeed consoleFeed(String name) {
        record(name); // a VM that does not exist is refused before the stream starts
        String path = "/v1/vms/" + AgentClient.encode(name) + "/console";
        return new ConsoleFeed(() -> java.util.Optional.ofNullable(record(name).node()), (node, from, most) -> {
            if (node.equals(config.nodeName())) {
                return vms.consoleFrom(name, from, most);
            }
            JsonNode answer = (JsonNode) forwardGet(node, path + "?bytes=" + most + "&node=" + AgentClient.encode(node) + "&from=" + from);
            return new VmService.ConsoleChunk(answer.path("start").asLong(), answer.path("end").asLong(), answer.path("text").asText(""));
        }, Duration.ofMillis(250), Duration.ofMinutes(30));
    }

    private Object nodeText(ApiRequest r, String what) {
        String name = r.path("name");
        int bytes = Integer.parseInt(r.query("bytes", "65536"));
        String from = r.query("from", null);
        VmRecord vm = record(name);
        String node = r.query("node", vm.node());
        if (node == null) {
            throw ApiException.conflict("VM '" + name + "' has never run; there is no " + what + " yet");
        }
        if (!node.equals(config.nodeName())) {
            JsonNode answer = (JsonNode) forwardGet(node, "/v1/vms/" + AgentClient.encode(name) + "/" + what + "?bytes=" + bytes
                + "&node=" + AgentClient.encode(node) + (from == null ? "" : "&from=" + Long.parseLong(from)));
            return answer;
        }
        if (from != null && what.equals("console")) {
            VmService.ConsoleChunk chunk = vms.consoleFrom(name, Long.parseLong(from), Math.min(bytes, 1 << 20));
            return Map.of("node", node, "start", chunk.start(), "end", chunk.end(), "text", chunk.text());
        }
        return Map.of("node", node, "text", what.equals("console") ? vms.console(name, bytes) : vms.log(name, bytes));
    }

    static Map<String, Object> describe(VmRecord vm, ClusterState state) {
        var map = new LinkedHashMap<String, Object>();
        VmDefinition d = vm.definition();
        map.put("name", vm.name());
        map.put("desired", vm.desired());
        map.put("phase", vm.phase());
        map.put("detail", vm.detail());
        map.put("state", vm.detail() == null ? vm.phase() : vm.phase() + " (" + vm.detail() + ")");
        map.put("node", vm.node());
        map.put("migratingTo", vm.migratingTo());
        map.put("memoryMib", d.memoryMib());
        map.put("vcpus", d.vcpus());
        map.put("definition", d);
        map.put("generation", vm.generation());
        map.put("ha", vm.ha());
        return map;
    }
}
