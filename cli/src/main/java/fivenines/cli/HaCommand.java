package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** High availability. */
@Command(name = "ha", mixinStandardHelpOptions = true, description = "High availability: leases, fencing, recovery.",
    subcommands = {HaCommand.Status.class})
final class HaCommand {

    @Command(name = "status", mixinStandardHelpOptions = true,
        description = "Each node's lease, when it was last heard and its fencing; each VM's HA state and why.")
    static final class Status implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = "--json", description = "print JSON")
        boolean json;

        @Override
        public void run() {
            JsonNode answer = agent.client().get("/v1/ha/status");
            if (json) {
                Output.json(System.out, answer);
                return;
            }
            JsonNode lease = answer.path("lease");
            System.out.println("leader: " + answer.path("leader").asText("-") + "; asked: " + answer.path("node").asText()
                + " (its lease: " + lease.path("thisNode").asText() + ")");
            System.out.println("lease: " + lease.path("lengthMillis").asLong() + " ms, renewed every "
                + lease.path("renewMillis").asLong() + " ms, guests stopped " + lease.path("stopAheadMillis").asLong()
                + " ms before its end, clock-rate margin " + lease.path("clockRateMargin").asDouble());
            System.out.println("watchdog: " + answer.path("watchdog").asText());
            var nodes = new Table("NODE", "STATE", "LEASE", "LAST HEARD", "MAINTENANCE", "FENCING");
            answer.path("nodes").forEach(n -> nodes.row(n.path("name").asText() + (n.path("witness").asBoolean() ? " (witness)" : ""),
                n.path("state").asText(), n.path("lease").asText(),
                n.path("lastHeardMillis").isNumber() ? n.path("lastHeardMillis").asLong() + " ms ago" : "-",
                n.path("maintenance").asText("-"),
                n.path("fencing").asText() + (n.path("fencingDetail").isTextual() ? ": " + n.path("fencingDetail").asText() : "")));
            nodes.print(System.out);
            var vms = new Table("VM", "REQUESTED", "PHASE", "NODE", "HA", "PRIORITY", "HA STATE", "WHY");
            answer.path("vms").forEach(v -> vms.row(v.path("name").asText(), v.path("desired").asText(), v.path("phase").asText(),
                v.path("node").asText("-"), v.path("ha").asText(), v.path("priority").asInt(),
                v.path("haState").isTextual() ? v.path("haState").asText().replace('_', ' ') : "-",
                v.path("why").isTextual() ? v.path("why").asText() : "-"));
            System.out.println();
            vms.print(System.out);
        }
    }
}
