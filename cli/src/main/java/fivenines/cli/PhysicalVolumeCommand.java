package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.HashMap;

/** Physical volume commands. */
@Command(name = "pv", mixinStandardHelpOptions = true, description = "Offer local disks or files to the cluster as physical volumes.",
    subcommands = {PhysicalVolumeCommand.Create.class, PhysicalVolumeCommand.ListVolumes.class,
        PhysicalVolumeCommand.Show.class, PhysicalVolumeCommand.Remove.class})
final class PhysicalVolumeCommand {

    @Command(name = "create", mixinStandardHelpOptions = true,
        description = {"Label a block device or file on the agent's node and register it (--size creates a sparse file).",
            "aoe:eSHELF.SLOT --interface IF: a remote AoE device (e.g. a vblade shelf) reached through IF of the agent's node,"
                + " served to the cluster by that node like a local disk."})
    static final class Create implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "PATH", description = "absolute path on the agent's node, or aoe:eSHELF.SLOT")
        String path;
        @Option(names = "--interface", paramLabel = "IF", description = "for aoe:eSHELF.SLOT: the network interface that reaches the target")
        String interfaceName;
        @Option(names = "--size", description = "create a sparse file of this size (e.g. 64G)")
        String size;
        @Option(names = "--extent-size", description = "extent size (default 4M)")
        String extentSize = "4M";
        @Option(names = "--json", description = "print JSON")
        boolean json;
        @Option(names = {"-f", "--force"}, description = "overwrite a label this cluster does not know (as pvcreate -f)")
        boolean force;

        @Override
        public void run() {
            boolean aoe = path.startsWith("aoe:");
            if (aoe) {
                if (size != null) {
                    throw new Nines.UsageException("--size creates a sparse file; an AoE device has the size its target says");
                }
                if (interfaceName == null && !path.contains("@")) {
                    throw new Nines.UsageException("give the interface that reaches the target: pv create " + path + " --interface IF");
                }
            } else if (interfaceName != null) {
                throw new Nines.UsageException("--interface is for an AoE device (aoe:eSHELF.SLOT), not for " + path);
            } else if (!Path.of(path).isAbsolute()) {
                throw new Nines.UsageException("'" + path + "' is relative; give the absolute path on the agent's node"
                    + " (the agent may run elsewhere and in another folder)");
            }
            var body = new HashMap<String, Object>();
            body.put("path", path);
            if (interfaceName != null) {
                body.put("interface", interfaceName);
            }
            body.put("force", force);
            if (size != null) {
                body.put("size", Sizes.parse(size));
            }
            body.put("extentSize", Sizes.parse(extentSize));
            JsonNode pv = agent.client().post("/v1/pvs", body);
            if (json) {
                Output.json(System.out, pv);
                return;
            }
            System.out.println("physical volume " + pv.path("name").asText() + " created: " + pv.path("id").asText()
                + ", " + Sizes.format(pv.path("size").asLong()) + " in " + pv.path("extents").asLong() + " extents");
            for (JsonNode uri : pv.path("nbdUris")) {
                System.out.println("  " + uri.asText());
            }
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Every physical volume of the cluster.")
    static final class ListVolumes extends ApiView {
        @Override
        String path() {
            return "/v1/pvs";
        }

        @Override
        void print(JsonNode pvs) {
            var table = new Table("PV", "ID", "TRANSPORT", "SIZE", "EXTENTS", "USED", "NBD", "NBD+UNIX");
            for (JsonNode pv : pvs) {
                table.row(pv.path("name").asText(), pv.path("id").asText().substring(0, 8), pv.path("transport").asText("local"),
                    Sizes.format(pv.path("size").asLong()), pv.path("extents").asLong(), pv.path("usedExtents").asLong(),
                    pv.path("nbdUris").path(0).asText(), pv.path("nbdUris").path(1).asText());
            }
            table.print(System.out);
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "One physical volume, by id or NODE:PATH.")
    static final class Show extends ApiView {
        @Parameters(paramLabel = "PV")
        String reference;

        @Override
        String path() {
            return "/v1/pvs/" + AgentClient.encode(reference);
        }

        @Override
        void print(JsonNode pv) {
            pv.fields().forEachRemaining(e -> System.out.printf("%-12s %s%n", e.getKey() + ":",
                e.getValue().isArray() ? e.getValue().toString() : e.getValue().asText()));
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true, description = "Forget a physical volume (refused while its extents are in use).")
    static final class Remove implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "PV")
        String reference;

        @Override
        public void run() {
            JsonNode pv = agent.client().delete("/v1/pvs/" + AgentClient.encode(reference));
            System.out.println("physical volume " + pv.path("name").asText() + " removed; " + pv.path("label").asText());
        }
    }
}
