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
import java.util.HashMap;

/** Cluster configuration commands. */
@Command(name = "config", mixinStandardHelpOptions = true, description = "Show and change the cluster configuration.",
    subcommands = {ConfigCommand.Show.class, ConfigCommand.Get.class, ConfigCommand.Set.class,
        ConfigCommand.Unset.class, ConfigCommand.Import.class})
final class ConfigCommand {

    @Command(name = "show", mixinStandardHelpOptions = true, description = "All keys and values, with config_version.")
    static final class Show extends ApiView {
        @Override
        String path() {
            return "/v1/config";
        }

        @Override
        void print(JsonNode config) {
            System.out.println("config_version: " + config.path("configVersion").asLong());
            var table = new Table("KEY", "VALUE");
            config.path("values").fields().forEachRemaining(e -> table.row(e.getKey(), e.getValue().asText()));
            table.print(System.out);
        }
    }

    @Command(name = "get", mixinStandardHelpOptions = true, description = "Print one value.")
    static final class Get extends ApiView {
        @Parameters(paramLabel = "KEY")
        String key;

        @Override
        String path() {
            return "/v1/config/" + AgentClient.encode(key);
        }

        @Override
        void print(JsonNode answer) {
            System.out.println(answer.path("value").asText());
        }
    }

    @Command(name = "set", mixinStandardHelpOptions = true, description = "Set a key; prints the new config_version.")
    static final class Set implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(index = "0", paramLabel = "KEY")
        String key;
        @Parameters(index = "1", paramLabel = "VALUE")
        String value;
        @Option(names = "--expect-version", description = "apply only if config_version is still this (compare-and-set)")
        Long expectedVersion;

        @Override
        public void run() {
            var body = new HashMap<String, Object>();
            body.put("value", value);
            if (expectedVersion != null) {
                body.put("expectedVersion", expectedVersion);
            }
            JsonNode answer = agent.client().put("/v1/config/" + AgentClient.encode(key), body);
            System.out.println("config_version " + answer.path("configVersion").asLong());
        }
    }

    @Command(name = "unset", mixinStandardHelpOptions = true, description = "Remove a key; prints the new config_version.")
    static final class Unset implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "KEY")
        String key;

        @Override
        public void run() {
            JsonNode answer = agent.client().delete("/v1/config/" + AgentClient.encode(key));
            System.out.println("config_version " + answer.path("configVersion").asLong());
        }
    }

    @Command(name = "import", mixinStandardHelpOptions = true,
        description = "Import a Red Hat cman cluster.conf: keeps what maps onto the model, reports the rest.")
    static final class Import implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "FILE")
        Path file;
        @Option(names = "--force", description = "import even when references do not resolve")
        boolean force;
        @Option(names = "--dry-run", description = "report what would be imported; change nothing")
        boolean dryRun;
        @Option(names = "--json", description = "print JSON")
        boolean json;

        @Override
        public void run() {
            String xml;
            xml = TextFiles.read(file, "a cman cluster.conf (XML)");
            JsonNode answer = agent.client().postText("/v1/config/import?force=" + force + "&dryRun=" + dryRun,
                "application/xml", xml);
            if (json) {
                Output.json(System.out, answer);
                return;
            }
            System.out.println((answer.path("applied").asBoolean() ? "imported " : "would import ")
                + answer.path("imported").size() + " keys from cluster '" + answer.path("clusterName").asText()
                + "' (cman config_version " + answer.path("cmanConfigVersion").asLong() + ")"
                + (answer.path("applied").asBoolean() ? "; config_version now " + answer.path("configVersion").asLong() : ""));
            for (JsonNode line : answer.path("errors")) {
                System.out.println("  error:   " + line.asText());
            }
            for (JsonNode line : answer.path("report")) {
                System.out.println("  " + line.asText());
            }
        }
    }
}
