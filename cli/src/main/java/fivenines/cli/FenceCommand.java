package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Fence devices and methods (the seed's fencedevices and clusternode/fence), and a status test. */
@Command(name = "fence", mixinStandardHelpOptions = true,
    description = "Fence devices, each node's fence methods (tried in order), and a status test.",
    subcommands = {FenceCommand.ListFence.class, FenceCommand.Device.class, FenceCommand.Method.class, FenceCommand.Test.class,
        FenceCommand.Ack.class})
final class FenceCommand {

    /** KEY=VALUE words into a map; anything else is refused before a request is made. */
    static Map<String, String> options(List<String> words) {
        var options = new TreeMap<String, String>();
        for (String word : words == null ? List.<String>of() : words) {
            int equals = word.indexOf('=');
            if (equals <= 0) {
                throw new Nines.UsageException("'" + word + "' is not an agent option: write KEY=VALUE (e.g. ip=10.0.0.9)");
            }
            options.put(word.substring(0, equals), word.substring(equals + 1));
        }
        return options;
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Devices (passwords hidden) and each node's methods.")
    static final class ListFence extends ApiView {
        @Override
        String path() {
            return "/v1/fence";
        }

        @Override
        void print(JsonNode answer) {
            var devices = new Table("DEVICE", "AGENT", "OPTIONS");
            answer.path("devices").forEach(d -> devices.row(d.path("name").asText(), d.path("agent").asText(),
                join(d.path("options"))));
            devices.print(System.out);
            System.out.println();
            var methods = new Table("NODE", "LEVEL", "METHOD", "DEVICES");
            answer.path("nodes").fields().forEachRemaining(node -> {
                int level = 1;
                for (JsonNode method : node.getValue()) {
                    var names = new ArrayList<String>();
                    method.path("devices").forEach(d -> names.add(d.path("device").asText()
                        + (d.path("options").isEmpty() ? "" : "(" + join(d.path("options")) + ")")));
                    methods.row(node.getKey(), Integer.toString(level++), method.path("method").asText()
                        + (method.path("manual").asBoolean() ? " (manual)" : ""), String.join(" + ", names));
                }
            });
            methods.print(System.out);
            answer.path("problems").forEach(p -> System.out.println("problem: " + p.asText()));
        }

        private static String join(JsonNode options) {
            var parts = new ArrayList<String>();
            options.fields().forEachRemaining(e -> parts.add(e.getKey() + "=" + e.getValue().asText()));
            return parts.isEmpty() ? "-" : String.join(" ", parts);
        }
    }

    @Command(name = "device", mixinStandardHelpOptions = true, description = "Add or remove fence devices.",
        subcommands = {Device.Add.class, Device.Remove.class})
    static final class Device {
        @Command(name = "add", mixinStandardHelpOptions = true,
            description = "Add a device: the agent that drives it and the options it is given (ip=..., username=..., lanplus=1 ...).")
        static final class Add implements Runnable {
            @Mixin
            AgentOptions agent;
            @Parameters(index = "0", paramLabel = "NAME")
            String name;
            @Parameters(index = "1", paramLabel = "AGENT", description = "the fence agent: fence_ipmilan, fence_apc, fence_dummy, fence_manual ...")
            String fenceAgent;
            @Parameters(index = "2..*", paramLabel = "KEY=VALUE", description = "options given to the agent on its standard input")
            List<String> words;

            @Override
            public void run() {
                var options = options(words);
                agent.client().post("/v1/fence/devices", Map.of("name", name, "agent", fenceAgent, "options", options));
                System.out.println("fence device '" + name + "' added (" + fenceAgent + ")");
            }
        }

        @Command(name = "remove", mixinStandardHelpOptions = true, description = "Remove a device that no method uses.")
        static final class Remove implements Runnable {
            @Mixin
            AgentOptions agent;
            @Parameters(paramLabel = "NAME")
            String name;

            @Override
            public void run() {
                agent.client().delete("/v1/fence/devices/" + AgentClient.encode(name));
                System.out.println("fence device '" + name + "' removed");
            }
        }
    }

    @Command(name = "method", mixinStandardHelpOptions = true, description = "Add or remove a node's fence methods.",
        subcommands = {Method.Add.class, Method.Remove.class})
    static final class Method {
        @Command(name = "add", mixinStandardHelpOptions = true,
            description = "Add a method, tried after the node's others; every device in it must succeed (e.g. two power supplies).")
        static final class Add implements Runnable {
            @Mixin
            AgentOptions agent;
            @Parameters(index = "0", paramLabel = "NODE")
            String node;
            @Parameters(index = "1", paramLabel = "METHOD")
            String method;
            @Option(names = "--device", required = true, description = "a device of the method (repeat for several)")
            List<String> devices;
            @Parameters(index = "2..*", paramLabel = "KEY=VALUE", description = "options that name the node on the device (port=3, plug=node2 ...)")
            List<String> words;

            @Override
            public void run() {
                var options = options(words);
                agent.client().post("/v1/fence/nodes/" + AgentClient.encode(node) + "/methods",
                    Map.of("method", method, "devices", devices, "options", options));
                System.out.println("fence method '" + method + "' added to node '" + node + "'");
            }
        }

        @Command(name = "remove", mixinStandardHelpOptions = true, description = "Remove a node's fence method.")
        static final class Remove implements Runnable {
            @Mixin
            AgentOptions agent;
            @Parameters(index = "0", paramLabel = "NODE")
            String node;
            @Parameters(index = "1", paramLabel = "METHOD")
            String method;

            @Override
            public void run() {
                agent.client().delete("/v1/fence/nodes/" + AgentClient.encode(node) + "/methods/" + AgentClient.encode(method));
                System.out.println("fence method '" + method + "' removed from node '" + node + "'");
            }
        }
    }

    @Command(name = "test", mixinStandardHelpOptions = true,
        description = "Ask every device of NODE's methods for its power status (nothing is switched). Exit 1 if any does not answer.")
    static final class Test implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = "--json", description = "print JSON")
        boolean json;
        @Parameters(paramLabel = "NODE")
        String node;

        @Override
        public void run() {
            JsonNode answer = agent.client().post("/v1/fence/nodes/" + AgentClient.encode(node) + "/test", Map.of());
            if (json) {
                Output.json(System.out, answer);
            } else {
                var table = new Table("METHOD", "DEVICE", "OK", "RESULT");
                answer.path("results").forEach(r -> table.row(r.path("method").asText(), r.path("device").asText(),
                    r.path("ok").asBoolean() ? "yes" : "NO", r.path("result").asText()));
                table.print(System.out);
            }
            if (!answer.path("ok").asBoolean()) {
                throw new Nines.CommandFailed("a fence device of '" + node + "' did not answer; fix it before the node needs fencing");
            }
        }
    }

    @Command(name = "ack", mixinStandardHelpOptions = true,
        description = "Confirm that a node declared down is off (manual fencing, or no fence method left): its HA VMs may"
            + " then start elsewhere. Only after making sure it is off: powered down, or its cables pulled.")
    static final class Ack implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "NODE")
        String node;

        @Override
        public void run() {
            agent.client().post("/v1/fence/ack/" + AgentClient.encode(node), Map.of());
            System.out.println("node " + node + " acknowledged as off: its HA VMs may start elsewhere");
        }
    }
}
