package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;

/** Cluster lock commands (the DLM of the seed). */
@Command(name = "lock", mixinStandardHelpOptions = true, description = "Acquire, release and list cluster locks.",
    subcommands = {LockCommand.Acquire.class, LockCommand.Release.class, LockCommand.ListLocks.class})
final class LockCommand {

    @Command(name = "acquire", mixinStandardHelpOptions = true, description = "Acquire a lock for this node (held until"
        + " released); prints the grant's fencing token, which only grows from one grant of the lock to the next.")
    static final class Acquire implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "NAME")
        String name;
        @Option(names = "--mode", description = "ex (exclusive, default) or pr (shared)")
        String mode = "ex";
        @Option(names = "--wait", paramLabel = "SECONDS", description = "wait this long for the lock (default 0: fail at once)")
        long waitSeconds;
        @Option(names = "--owner", description = "who holds it on this node (default: cli)")
        String owner = "cli";

        @Override
        public void run() {
            JsonNode answer = agent.client().post("/v1/locks/" + AgentClient.encode(name) + "/acquire",
                Map.of("mode", mode, "waitSeconds", waitSeconds, "owner", owner));
            System.out.println("lock '" + name + "' acquired (" + mode.toUpperCase() + ", owner " + owner
                + ", token " + answer.path("token").asLong() + ")");
        }
    }

    @Command(name = "release", mixinStandardHelpOptions = true, description = "Release a lock held by this node.")
    static final class Release implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "NAME")
        String name;
        @Option(names = "--owner", description = "who holds it on this node (default: cli)")
        String owner = "cli";

        @Override
        public void run() {
            agent.client().post("/v1/locks/" + AgentClient.encode(name) + "/release", Map.of("owner", owner));
            System.out.println("lock '" + name + "' released");
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Every lock, its holders and waiters.")
    static final class ListLocks extends ApiView {
        @Override
        String path() {
            return "/v1/locks";
        }

        @Override
        void print(JsonNode locks) {
            var table = new Table("LOCK", "MODE", "TOKEN", "HOLDERS", "WAITING");
            for (JsonNode lock : locks) {
                JsonNode holders = lock.path("holders");
                String mode = holders.isEmpty() ? "-" : holders.get(0).path("mode").asText();
                // PR holders granted by different commands hold different tokens: the largest is what a guard would have seen
                String token = holders.isEmpty() ? "-" : Long.toString(StreamSupport.stream(holders.spliterator(), false)
                    .mapToLong(h -> h.path("token").asLong()).max().orElseThrow());
                table.row(lock.path("name").asText(), mode, token, describe(holders), describe(lock.path("waiters")));
            }
            table.print(System.out);
        }

        private static String describe(JsonNode holders) {
            if (holders.isEmpty()) {
                return "-";
            }
            return StreamSupport.stream(holders.spliterator(), false)
                .map(h -> h.path("owner").asText() + "@" + h.path("node").asText()
                    + (h.path("mode").asText().equals("PR") ? "(pr)" : ""))
                .collect(Collectors.joining(","));
        }
    }
}
