package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.Map;

/** Volume group commands. */
@Command(name = "vg", mixinStandardHelpOptions = true, description = "Pool physical volumes of any nodes into volume groups.",
    subcommands = {VolumeGroupCommand.Create.class, VolumeGroupCommand.Extend.class, VolumeGroupCommand.Reduce.class,
        VolumeGroupCommand.ListGroups.class, VolumeGroupCommand.Show.class, VolumeGroupCommand.Remove.class})
final class VolumeGroupCommand {

    static void print(JsonNode vg) {
        System.out.println("volume group " + vg.path("name").asText() + ": " + Sizes.format(vg.path("size").asLong())
            + ", " + Sizes.format(vg.path("free").asLong()) + " free, on " + LogicalVolumeCommand.nodes(vg.path("physicalVolumes")));
    }

    /** create, extend, reduce: a volume group and the physical volumes it gains or loses. */
    abstract static class GroupChange implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(index = "0", paramLabel = "NAME")
        String name;
        @Parameters(index = "1..*", arity = "1..*", paramLabel = "PV", description = "physical volumes, as NODE:PATH or id")
        List<String> pvs;

        abstract JsonNode send(AgentClient client);

        @Override
        public void run() {
            print(send(agent.client()));
        }
    }

    @Command(name = "create", mixinStandardHelpOptions = true, description = "vg create NAME NODE:PV...")
    static final class Create extends GroupChange {
        @Override
        JsonNode send(AgentClient client) {
            return client.post("/v1/vgs", Map.of("name", name, "pvs", pvs));
        }
    }

    @Command(name = "extend", mixinStandardHelpOptions = true, description = "vg extend NAME NODE:PV...")
    static final class Extend extends GroupChange {
        @Override
        JsonNode send(AgentClient client) {
            return client.post("/v1/vgs/" + AgentClient.encode(name) + "/extend", Map.of("pvs", pvs));
        }
    }

    @Command(name = "reduce", mixinStandardHelpOptions = true, description = "vg reduce NAME NODE:PV... (refused while they hold extents)")
    static final class Reduce extends GroupChange {
        @Override
        JsonNode send(AgentClient client) {
            return client.post("/v1/vgs/" + AgentClient.encode(name) + "/reduce", Map.of("pvs", pvs));
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Every volume group.")
    static final class ListGroups extends ApiView {
        @Override
        String path() {
            return "/v1/vgs";
        }

        @Override
        void print(JsonNode vgs) {
            var table = new Table("VG", "#PV", "#LV", "VSIZE", "VFREE", "PVS");
            for (JsonNode vg : vgs) {
                table.row(vg.path("name").asText(), vg.path("physicalVolumes").size(), vg.path("logicalVolumes").asLong(),
                    Sizes.format(vg.path("size").asLong()), Sizes.format(vg.path("free").asLong()),
                    LogicalVolumeCommand.nodes(vg.path("physicalVolumes")));
            }
            table.print(System.out);
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "One volume group.")
    static final class Show extends ApiView {
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        String path() {
            return "/v1/vgs/" + AgentClient.encode(name);
        }

        @Override
        void print(JsonNode vg) {
            vg.fields().forEachRemaining(e -> System.out.printf("%-16s %s%n", e.getKey() + ":", e.getValue()));
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true, description = "Remove an empty volume group.")
    static final class Remove implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "NAME")
        String name;

        @Override
        public void run() {
            agent.client().delete("/v1/vgs/" + AgentClient.encode(name));
            System.out.println("volume group " + name + " removed");
        }
    }
}
