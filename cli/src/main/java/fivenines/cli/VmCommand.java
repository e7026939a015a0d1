package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** VM commands. */
@Command(name = "vm", mixinStandardHelpOptions = true, description = "Define, run and move virtual machines.",
    subcommands = {VmCommand.Create.class, VmCommand.Import.class, VmCommand.Start.class, VmCommand.Stop.class,
        VmCommand.Restart.class, VmCommand.Pause.class, VmCommand.Resume.class, VmCommand.ListVms.class, VmCommand.Show.class,
        VmCommand.Console.class, VmCommand.Log.class, VmCommand.Remove.class, VmCommand.Migrate.class, VmCommand.Change.class})
final class VmCommand {

    static String path(String name) {
        return "/v1/vms/" + AgentClient.encode(name);
    }

    static void print(JsonNode vm) {
        System.out.println("VM " + vm.path("name").asText() + ": " + vm.path("state").asText()
            + (vm.path("node").isTextual() ? " on " + vm.path("node").asText() : ""));
    }

    @Command(name = "create", mixinStandardHelpOptions = true, description = "Define a VM (it stays stopped until 'vm start').")
    static final class Create implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "NAME")
        String name;
        @Option(names = {"-m", "--memory"}, description = "MiB (default 256)")
        int memory = 256;
        @Option(names = "--vcpus")
        int vcpus = 1;
        @Option(names = "--kernel", description = "boot this kernel (a path present on every node), like a Xen PV guest")
        String kernel;
        @Option(names = "--initrd")
        String initrd;
        @Option(names = "--append", description = "kernel command line")
        String append;
        @Option(names = "--disk", description = "VG/LV[,bus=virtio|ide][,cache=MODE][,ro]; repeat for more disks")
        List<String> disks = new ArrayList<>();
        @Option(names = "--nic", description = "MAC[,user|bridge:NAME|tap:NAME]; repeat for more")
        List<String> nics = new ArrayList<>();
        @Option(names = "--on-crash", description = "restart (default), destroy or preserve")
        String onCrash = "restart";
        @Option(names = "--priority", description = "restart priority for failover (higher first)")
        int priority;
        @Option(names = "--anti-affinity", description = "keep VMs of this group on different nodes")
        String antiAffinity;
        @Option(names = "--replace", description = "replace the definition of a stopped VM")
        boolean replace;
        @Option(names = "--ha", paramLabel = "on|off", description = "restart it on another node when its node dies (default off)")
        String ha = "off";

        @Override
        public void run() {
            var definition = new LinkedHashMap<String, Object>();
            definition.put("name", name);
            definition.put("memoryMib", memory);
            definition.put("vcpus", vcpus);
            if (kernel != null) {
                var boot = new HashMap<String, Object>();
                boot.put("kernel", Path.of(kernel).toAbsolutePath().toString());
                if (initrd != null) {
                    boot.put("initrd", Path.of(initrd).toAbsolutePath().toString());
                }
                boot.put("commandLine", append == null ? "console=ttyS0" : append);
                definition.put("boot", boot);
            }
            var diskList = new ArrayList<Map<String, Object>>();
            for (String disk : disks) {
                String[] parts = disk.split(",");
                var d = new HashMap<String, Object>();
                d.put("volume", parts[0]);
                d.put("readOnly", false);
                for (int i = 1; i < parts.length; i++) {
                    if (parts[i].equals("ro")) {
                        d.put("readOnly", true);
                    } else if (parts[i].startsWith("bus=")) {
                        d.put("bus", parts[i].substring(4));
                    } else if (parts[i].startsWith("cache=")) {
                        d.put("cache", parts[i].substring(6));
                    } else {
                        throw new Nines.UsageException("disk option '" + parts[i] + "' is not bus=, cache= or ro");
                    }
                }
                diskList.add(d);
            }
            definition.put("disks", diskList);
            var nicList = new ArrayList<Map<String, Object>>();
            for (String nic : nics) {
                String[] parts = nic.split(",", 2);
                nicList.add(Map.of("mac", parts[0], "network", parts.length > 1 ? parts[1] : "user"));
            }
            definition.put("nics", nicList);
            definition.put("onCrash", onCrash);
            definition.put("priority", priority);
            if (antiAffinity != null) {
                definition.put("antiAffinity", antiAffinity);
            }
            definition.put("ha", onOff("--ha", ha));
            print(agent.client().post("/v1/vms", Map.of("definition", definition, "replace", replace)));
        }
    }

    static boolean onOff(String option, String value) {
        return switch (value) {
            case "on" -> true;
            case "off" -> false;
            default -> throw new Nines.UsageException(option + " is 'on' or 'off', not '" + value + "'");
        };
    }

    @Command(name = "set", mixinStandardHelpOptions = true,
        description = "Change a VM: HA settings at any time; memory and vCPUs while it is stopped.")
    static final class Change implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "NAME")
        String name;
        @Option(names = "--ha", paramLabel = "on|off", description = "restart it on another node when its node dies")
        String ha;
        @Option(names = "--priority", description = "failover priority, 0 to 1000 (higher first)")
        Integer priority;
        @Option(names = "--anti-affinity", paramLabel = "GROUP", description = "keep VMs of this group on different nodes"
            + " ('' clears it)")
        String antiAffinity;
        @Option(names = {"-m", "--memory"}, description = "MiB (the VM must be stopped)")
        Integer memory;
        @Option(names = "--vcpus", description = "(the VM must be stopped)")
        Integer vcpus;

        @Override
        public void run() {
            var body = new HashMap<String, Object>();
            if (ha != null) {
                body.put("ha", onOff("--ha", ha));
            }
            if (priority != null) {
                body.put("priority", priority);
            }
            if (antiAffinity != null) {
                body.put("antiAffinity", antiAffinity);
            }
            if (memory != null) {
                body.put("memoryMib", memory);
            }
            if (vcpus != null) {
                body.put("vcpus", vcpus);
            }
            if (body.isEmpty()) {
                throw new Nines.UsageException("give what to change: --ha, --priority, --anti-affinity, --memory or --vcpus");
            }
            print(agent.client().post(path(name) + "/set", body));
        }
    }

    @Command(name = "import", mixinStandardHelpOptions = true,
        description = "Define a VM from a Xen domain config (xm/xl syntax); keys it cannot honour are listed.")
    static final class Import implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "FILE")
        Path file;
        @Option(names = "--name", description = "the VM's name (default: the config's 'name')")
        String name;

        @Override
        public void run() {
            String text;
            text = TextFiles.read(file, "a Xen domain config");
            var body = new HashMap<String, Object>();
            body.put("config", text);
            if (name != null) {
                body.put("name", name);
            }
            JsonNode answer = agent.client().post("/v1/vms/import", body);
            print(answer.path("vm"));
            for (JsonNode warning : answer.path("warnings")) {
                System.out.println("  not honoured: " + warning.asText());
            }
        }
    }

    /** A command on one VM that changes what is wanted of it and prints the outcome. */
    abstract static class Action implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "NAME")
        String name;

        abstract String action();

        Map<String, Object> body() {
            return Map.of();
        }

        @Override
        public void run() {
            print(agent.client().post(path(name) + "/" + action(), body()));
        }
    }

    @Command(name = "start", mixinStandardHelpOptions = true, description = "Start a VM (placed on the node with most free memory, or --node).")
    static final class Start extends Action {
        @Option(names = "--node")
        String node;

        @Override
        String action() {
            return "start";
        }

        @Override
        Map<String, Object> body() {
            return node == null ? Map.of() : Map.of("node", node);
        }
    }

    @Command(name = "stop", mixinStandardHelpOptions = true, description = "Stop a VM: ACPI power-off, then QEMU ends; --force kills it at once.")
    static final class Stop extends Action {
        @Option(names = "--force")
        boolean force;

        @Override
        String action() {
            return "stop";
        }

        @Override
        Map<String, Object> body() {
            return Map.of("force", force);
        }
    }

    @Command(name = "restart", mixinStandardHelpOptions = true, description = "Stop and start a VM.")
    static final class Restart extends Action {
        @Override
        String action() {
            return "restart";
        }
    }

    @Command(name = "pause", mixinStandardHelpOptions = true, description = "Pause a VM's CPUs.")
    static final class Pause extends Action {
        @Override
        String action() {
            return "pause";
        }
    }

    @Command(name = "resume", mixinStandardHelpOptions = true,
        description = "Resume a paused VM, also one paused by an I/O error (the failed requests are retried).")
    static final class Resume extends Action {
        @Override
        String action() {
            return "resume";
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Every VM.")
    static final class ListVms extends ApiView {
        @Override
        String path() {
            return "/v1/vms";
        }

        @Override
        void print(JsonNode vms) {
            var table = new Table("NAME", "STATE", "NODE", "MEMORY", "VCPUS", "DISKS");
            for (JsonNode vm : vms) {
                var disks = new ArrayList<String>();
                vm.path("definition").path("disks").forEach(d -> disks.add(d.path("volume").asText()));
                String node = vm.path("node").asText("");
                if (vm.path("migratingTo").isTextual()) {
                    node += " -> " + vm.path("migratingTo").asText();
                }
                table.row(vm.path("name").asText(), vm.path("state").asText(), node,
                    vm.path("memoryMib").asInt() + " MiB", vm.path("vcpus").asText(), String.join(",", disks));
            }
            table.print(System.out);
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "One VM.")
    static final class Show extends ApiView {
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        String path() {
            return VmCommand.path(name);
        }

        @Override
        void print(JsonNode vm) {
            vm.fields().forEachRemaining(e -> System.out.printf("%-14s %s%n", e.getKey() + ":", e.getValue()));
        }
    }

    @Command(name = "console", mixinStandardHelpOptions = true, description = "The VM's serial console (read-only); --follow keeps reading.")
    static final class Console implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "NAME")
        String name;
        @Option(names = {"-f", "--follow"})
        boolean follow;
        @Option(names = "--bytes", description = "how much of the end to show first (default 16384)")
        int bytes = 16384;

        @Override
        public void run() {
            String shown = "";
            while (true) {
                String text = agent.client().get(path(name) + "/console?bytes=" + (follow ? 1 << 20 : bytes)).path("text").asText();
                if (shown.isEmpty()) {
                    String first = text.length() > bytes ? text.substring(text.length() - bytes) : text;
                    System.out.print(first);
                } else if (text.startsWith(shown)) {
                    System.out.print(text.substring(shown.length()));
                } else if (text.length() > 0 && !text.equals(shown)) {
                    int overlap = Math.min(shown.length(), 4096);
                    String tail = shown.substring(shown.length() - overlap);
                    int at = text.lastIndexOf(tail);
                    System.out.print(at >= 0 ? text.substring(at + tail.length()) : text);
                }
                System.out.flush();
                shown = text;
                if (!follow) {
                    return;
                }
                try {
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    @Command(name = "log", mixinStandardHelpOptions = true, description = "What happened to the VM on its node, and QEMU's messages.")
    static final class Log implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        public void run() {
            System.out.print(agent.client().get(path(name) + "/log").path("text").asText());
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true, description = "Remove a stopped VM's definition (its volumes stay).")
    static final class Remove implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        public void run() {
            agent.client().delete(path(name));
            System.out.println("VM " + name + " removed");
        }
    }

    @Command(name = "migrate", mixinStandardHelpOptions = true,
        description = "Move a running VM to another node, live; shows progress, then QEMU's downtime and the total time.")
    static final class Migrate implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(index = "0", paramLabel = "NAME")
        String name;
        @Parameters(index = "1", paramLabel = "NODE")
        String node;

        @Override
        public void run() {
            AgentClient client = agent.client();
            JsonNode started = client.post(path(name) + "/migrate", Map.of("node", node, "wait", false));
            String source = started.path("source").asText();
            System.out.println("migrating " + name + " from " + source + " to " + node);
            String last = "";
            while (true) {
                JsonNode m = client.get(path(name) + "/migration?node=" + AgentClient.encode(source));
                String state = m.path("state").asText();
                String line = state.equals("migrating") && m.has("percent")
                    ? String.format(Locale.ROOT, "  %3d%%  %s sent, %s left, pass %d", m.path("percent").asInt(),
                        Sizes.format(m.path("transferredBytes").asLong()), Sizes.format(m.path("remainingBytes").asLong()),
                        m.path("passes").asLong())
                    : "  " + state;
                if (!line.equals(last)) {
                    System.out.println(line);
                    last = line;
                }
                if (state.equals("completed")) {
                    System.out.printf(Locale.ROOT, "%s runs on %s: total %d ms, QEMU downtime %d ms, QEMU migration %d ms, "
                            + "orchestration %d ms (switch-over %d ms)%n", name, node, m.path("totalMillis").asLong(),
                        m.path("qemuDowntimeMillis").asLong(), m.path("qemuTotalMillis").asLong(), m.path("overheadMillis").asLong(),
                        m.path("switchoverMillis").asLong());
                    return;
                }
                if (state.equals("failed")) {
                    throw new Nines.UsageException("migration of " + name + " to " + node + " failed; it still runs on " + source
                        + ": " + m.path("error").asText());
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }
}
