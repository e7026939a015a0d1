package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/** Nodes: list them, put one in maintenance (its VMs leave and come back), evacuate one. */
@Command(name = "node", mixinStandardHelpOptions = true, description = "Nodes: list, maintenance, evacuate.",
    subcommands = {NodeCommand.ListNodes.class, NodeCommand.MaintenanceCommand.class, NodeCommand.Evacuate.class})
final class NodeCommand {

    @Command(name = "list", mixinStandardHelpOptions = true,
        description = "Each node's state, maintenance, VMs and free memory for guests.")
    static final class ListNodes extends ApiView {
        @Override
        String path() {
            return "/v1/nodes";
        }

        @Override
        void print(JsonNode answer) {
            var table = new Table("NODE", "ROLE", "STATE", "MAINTENANCE", "VMS", "FREE MEMORY");
            for (JsonNode n : answer.path("nodes")) {
                var back = new ArrayList<String>();
                n.path("returning").forEach(v -> back.add(v.asText()));
                String maintenance = !n.path("maintenance").asBoolean() ? "-"
                    : back.isEmpty() ? "on" : "on (to bring back: " + String.join(", ", back) + ")";
                if (n.has("drain") && n.path("drain").path("state").asText().equals("running")) {
                    maintenance += " " + n.path("drain").path("kind").asText() + " under way";
                }
                var vms = new ArrayList<String>();
                n.path("vms").forEach(v -> vms.add(v.asText()));
                table.row(n.path("name").asText() + (n.path("witness").asBoolean() ? " (witness)" : ""),
                    n.path("role").asText(), n.path("state").asText(), maintenance, vms.isEmpty() ? "-" : String.join(",", vms),
                    n.has("freeMemoryMib") ? n.path("freeMemoryMib").asLong() + " of " + n.path("memoryMib").asLong() + " MiB" : "-");
            }
            table.print(System.out);
        }
    }

    @Command(name = "maintenance", mixinStandardHelpOptions = true,
        description = "Maintenance mode: 'enable NODE' live-migrates its VMs away and places nothing new there;"
            + " 'disable NODE' brings them back.",
        subcommands = {Enable.class, Disable.class})
    static final class MaintenanceCommand {
    }

    @Command(name = "enable", mixinStandardHelpOptions = true,
        description = "Live-migrates the node's running VMs to other nodes (memory, anti-affinity) and marks it in"
            + " maintenance: nothing new is placed there and, drained, it is not fenced when it goes down.")
    static final class Enable implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(index = "0", paramLabel = "NODE")
        String node;

        @Override
        public void run() {
            follow(agent.client(), node, "/maintenance", Map.of("enable", true));
            System.out.println("node " + node + " is in maintenance");
        }
    }

    @Command(name = "disable", mixinStandardHelpOptions = true,
        description = "Takes the node out of maintenance and live-migrates back the VMs that left it.")
    static final class Disable implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(index = "0", paramLabel = "NODE")
        String node;

        @Override
        public void run() {
            follow(agent.client(), node, "/maintenance", Map.of("enable", false));
            System.out.println("node " + node + " is out of maintenance");
        }
    }

    @Command(name = "evacuate", mixinStandardHelpOptions = true,
        description = "Live-migrates the node's running VMs to other nodes, without maintenance mode: nothing comes back.")
    static final class Evacuate implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(index = "0", paramLabel = "NODE")
        String node;

        @Override
        public void run() {
            follow(agent.client(), node, "/evacuate", Map.of());
            System.out.println("node " + node + " is evacuated");
        }
    }

    /** Starts the operation, then prints each VM's move as it ends; fails if one did. */
    static void follow(AgentClient client, String node, String verb, Map<String, Object> body) {
        String base = "/v1/nodes/" + AgentClient.encode(node);
        JsonNode started = client.post(base + verb, body);
        String kind = started.path("kind").asText();
        if (started.path("moves").isEmpty()) {
            System.out.println(kind + " of " + node + ": no VM to move");
        }
        started.path("moves").forEach(m -> System.out.println(kind + " of " + node + ": " + m.path("vm").asText() + " "
            + m.path("from").asText() + " -> " + m.path("to").asText()));
        started.path("staying").forEach(s -> System.out.println("  " + s.asText()));
        Set<String> shown = new HashSet<>();
        JsonNode status = started;
        while (true) {
            for (JsonNode m : status.path("moves")) {
                String state = m.path("state").asText();
                if (!state.equals("waiting") && !state.equals("migrating") && shown.add(m.path("vm").asText())) {
                    System.out.println("  " + m.path("vm").asText() + " -> " + m.path("to").asText() + ": " + state);
                }
            }
            String state = status.path("state").asText();
            if (state.equals("completed")) {
                return;
            }
            if (state.equals("failed")) {
                throw new Nines.UsageException(kind + " of node " + node + " did not move every VM (see above); those left"
                    + " run where they were" + (kind.equals("maintenance") ? "; the node stays in maintenance: run 'nines node"
                    + " maintenance enable " + node + "' again to retry" : ""));
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            status = client.get(base + "/drain");
        }
    }
}
