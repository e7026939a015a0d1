package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Run-time control of a running agent (the seed's mcp). */
@Command(name = "mcp", mixinStandardHelpOptions = true, description = "Control a running agent: plugins, threads, exit.",
    subcommands = {McpCommand.PluginCommand.class, McpCommand.ThreadCommand.class, McpCommand.Exit.class})
final class McpCommand {

    @Command(name = "plugin", mixinStandardHelpOptions = true, description = "List, start, stop, load, unload plugins; tell them commands.",
        subcommands = {PluginList.class, PluginStart.class, PluginStop.class, PluginLoad.class, PluginUnload.class, PluginTell.class})
    static final class PluginCommand {
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Every plugin with its state and health.")
    static final class PluginList extends ApiView {
        @Override
        String path() {
            return "/v1/mcp/plugins";
        }

        @Override
        void print(JsonNode plugins) {
            var table = new Table("PLUGIN", "STATE", "HEALTH", "DETAIL", "COMMANDS", "SOURCE");
            for (JsonNode p : plugins) {
                var commands = new java.util.ArrayList<String>();
                p.path("commands").fieldNames().forEachRemaining(commands::add);
                table.row(p.path("name").asText(), p.path("state").asText().toLowerCase(),
                    p.path("health").path("status").asText().toLowerCase(), p.path("health").path("detail").asText(),
                    commands.isEmpty() ? "-" : String.join(",", commands), p.path("source").asText());
            }
            table.print(System.out);
        }
    }

    /** start, stop, unload: one action on one plugin, answered with its new state. */
    abstract static class PluginAction implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "NAME")
        String name;

        abstract String action();

        @Override
        public void run() {
            JsonNode info = agent.client().post("/v1/mcp/plugins/" + AgentClient.encode(name) + "/" + action(), Map.of());
            String state = info.has("state") ? info.path("state").asText().toLowerCase() : action() + "ed";
            System.out.println("plugin '" + name + "' " + state);
        }
    }

    @Command(name = "start", mixinStandardHelpOptions = true, description = "Start a stopped plugin.")
    static final class PluginStart extends PluginAction {
        @Override
        String action() {
            return "start";
        }
    }

    @Command(name = "stop", mixinStandardHelpOptions = true, description = "Stop a running plugin.")
    static final class PluginStop extends PluginAction {
        @Override
        String action() {
            return "stop";
        }
    }

    @Command(name = "load", mixinStandardHelpOptions = true, description = "Load and start the plugins of a jar (a path on the agent's machine).")
    static final class PluginLoad implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "JAR")
        Path jar;

        @Override
        public void run() {
            JsonNode answer = agent.client().post("/v1/mcp/plugins/load", Map.of("path", jar.toAbsolutePath().toString()));
            System.out.println("loaded: " + answer.path("loaded"));
        }
    }

    @Command(name = "unload", mixinStandardHelpOptions = true, description = "Stop and unload a plugin that came from a jar.")
    static final class PluginUnload extends PluginAction {
        @Override
        String action() {
            return "unload";
        }
    }

    @Command(name = "tell", mixinStandardHelpOptions = true, description = "Send a command to a plugin: tell NAME COMMAND [ARGS...].")
    static final class PluginTell implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(index = "0", paramLabel = "NAME")
        String name;
        @Parameters(index = "1", paramLabel = "COMMAND")
        String command;
        @Parameters(index = "2..*", paramLabel = "ARGS")
        List<String> arguments = List.of();

        @Override
        public void run() {
            JsonNode answer = agent.client().post("/v1/mcp/plugins/" + AgentClient.encode(name) + "/tell",
                Map.of("command", command, "arguments", arguments));
            JsonNode result = answer.path("result");
            if (result.isTextual()) {
                System.out.println(result.asText());
            } else {
                Output.json(System.out, result);
            }
        }
    }

    @Command(name = "thread", mixinStandardHelpOptions = true, description = "Threads of the agent.",
        subcommands = {ThreadList.class})
    static final class ThreadCommand {
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Every platform thread of the agent, by name.")
    static final class ThreadList extends ApiView {
        @Override
        String path() {
            return "/v1/mcp/threads";
        }

        @Override
        void print(JsonNode threads) {
            var table = new Table("THREAD", "STATE", "DAEMON", "GROUP");
            for (JsonNode t : threads) {
                table.row(t.path("name").asText(), t.path("state").asText().toLowerCase(),
                    t.path("daemon").asBoolean() ? "yes" : "no", t.path("group").asText());
            }
            table.print(System.out);
        }
    }

    @Command(name = "exit", mixinStandardHelpOptions = true, description = "Stop the agent cleanly.")
    static final class Exit implements Runnable {
        @Mixin
        AgentOptions agent;

        @Override
        public void run() {
            agent.client().post("/v1/mcp/exit", Map.of());
            System.out.println("agent exiting");
        }
    }
}
