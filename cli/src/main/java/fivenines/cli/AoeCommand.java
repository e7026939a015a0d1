package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.Map;

/** ATA over Ethernet: serve a volume or PV of the agent's node as eSHELF.SLOT on a network interface. */
@Command(name = "aoe", mixinStandardHelpOptions = true, description = "Serve volumes and PVs over ATA over Ethernet (AoE).",
    subcommands = {AoeCommand.Export.class, AoeCommand.Unexport.class, AoeCommand.ListExports.class})
final class AoeCommand {

    @Command(name = "export", mixinStandardHelpOptions = true, description = "aoe export VG/LV|PV --shelf N --slot M --interface IF:"
        + " serve a volume attached on the agent's node, or a PV of that node, as AoE target eN.M on IF"
        + " (every acknowledged write is on stable storage).")
    static final class Export implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "VG/LV|PV")
        String source;
        @Option(names = "--shelf", required = true, paramLabel = "N", description = "AoE shelf (major) address, 0..65534")
        int shelf;
        @Option(names = "--slot", required = true, paramLabel = "M", description = "AoE slot (minor) address, 0..254")
        int slot;
        @Option(names = "--interface", required = true, paramLabel = "IF", description = "network interface to serve on")
        String interfaceName;

        @Override
        public void run() {
            JsonNode e = agent.client().post("/v1/aoe/exports",
                Map.of("source", source, "shelf", shelf, "slot", slot, "interface", interfaceName));
            System.out.println(source + " exported as " + e.path("address").asText() + " on " + e.path("interface").asText()
                + " (MAC " + e.path("mac").asText() + ", MTU " + e.path("mtu").asInt() + ", "
                + e.path("sectorsPerFrame").asInt() + " sectors a frame)");
        }
    }

    @Command(name = "unexport", mixinStandardHelpOptions = true, description = "aoe unexport eN.M: stop serving that AoE target.")
    static final class Unexport implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "eSHELF.SLOT")
        String address;

        @Override
        public void run() {
            JsonNode e = agent.client().delete("/v1/aoe/exports/" + AgentClient.encode(address));
            System.out.println(e.path("address").asText() + " (" + e.path("source").asText() + ") no longer served on "
                + e.path("interface").asText());
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "The AoE targets the agent's node serves.")
    static final class ListExports extends ApiView {
        @Override
        String path() {
            return "/v1/aoe/exports";
        }

        @Override
        void print(JsonNode exports) {
            var table = new Table("TARGET", "SOURCE", "INTERFACE", "MAC", "MTU", "SECTORS/FRAME", "SIZE", "FRAMES", "WRITES", "FLUSHES");
            for (JsonNode e : exports) {
                table.row(e.path("address").asText(), e.path("source").asText(), e.path("interface").asText(),
                    e.path("mac").asText(), e.path("mtu").asText(), e.path("sectorsPerFrame").asText(),
                    e.path("size").isNull() ? "not served" : Sizes.format(e.path("size").asLong()),
                    e.path("frames").asText(), e.path("writes").asText(), e.path("flushes").asText());
            }
            table.print(System.out);
        }
    }
}
