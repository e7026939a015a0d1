package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.model.cluster.Membership;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.Map;

/** Membership commands. */
@Command(name = "cluster", mixinStandardHelpOptions = true, description = "Create, join, leave and inspect the cluster.",
    subcommands = {ClusterCommand.Init.class, ClusterCommand.Join.class, ClusterCommand.Leave.class,
        ClusterCommand.Remove.class, ClusterCommand.Status.class, ClusterCommand.Token.class})
final class ClusterCommand {

    @Command(name = "init", mixinStandardHelpOptions = true, description = "Make a one-node cluster of this node and print its join token.")
    static final class Init implements Runnable {
        @Mixin
        AgentOptions agent;
        @Option(names = "--name", required = true, description = "the cluster's name")
        String name;
        @Option(names = "--max-voters", description = "voters at most (odd, default 5); later nodes join as non-voting members")
        int maxVoters = Membership.DEFAULT_MAX_VOTERS;

        @Override
        public void run() {
            JsonNode answer = agent.client().post("/v1/cluster/init", Map.of("name", name, "maxVoters", maxVoters));
            String token = agent.credential();
            System.out.println("cluster '" + name + "' created; node '" + answer.path("node").path("name").asText()
                + "' is its first voter.");
            System.out.println("join token: " + token);
            System.out.println("on each other node: nines cluster join " + answer.path("node").path("apiAddress").asText()
                + " --token " + token);
        }
    }

    @Command(name = "token", mixinStandardHelpOptions = true,
        description = "Print the cluster's join token (the credential this CLI uses for its agent), checked against the agent.",
        subcommands = {ClusterCommand.Rotate.class})
    static final class Token implements Runnable {
        @Mixin
        AgentOptions agent;

        @Override
        public void run() {
            String token = agent.credential();
            if (token == null) {
                throw new Nines.UsageException("no credential for " + agent.url() + " on this machine; run this on a member's"
                    + " machine, or set NINES_TOKEN");
            }
            JsonNode status = agent.client().get("/v1/cluster/status"); // refused when the credential is wrong
            if (!status.path("inCluster").asBoolean()) {
                throw new Nines.UsageException("the agent at " + agent.url() + " is in no cluster yet; 'nines cluster init' makes one");
            }
            System.out.println(token);
        }
    }

    @Command(name = "rotate", mixinStandardHelpOptions = true,
        description = "Make a new join token: every node switches to it; the old one is refused after cluster.token_grace_seconds.")
    static final class Rotate implements Runnable {
        @Mixin
        AgentOptions agent;

        @Override
        public void run() {
            JsonNode answer = agent.client().post("/v1/cluster/token/rotate", Map.of());
            System.out.println("new join token: " + answer.path("token").asText());
            System.out.println("every node switches to it by itself, and the CLI on each node finds it; the old token is"
                + " refused after " + answer.path("graceSeconds").asLong() + " s (NINES_TOKEN users: set the new one)");
        }
    }

    @Command(name = "join", mixinStandardHelpOptions = true, description = "Join this node to a cluster through one of its members.")
    static final class Join implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "HOST:PORT", description = "the API address of any member")
        String seed;
        @Option(names = "--token", required = true,
            description = "the join token: 'nines cluster init' and 'nines up' print it, 'nines cluster token' on a member prints it again")
        String token;
        @Option(names = "--witness", description = "join as a witness: votes in the store, runs no VMs (the third voter of a two-node cluster)")
        boolean witness;

        @Override
        public void run() {
            JsonNode answer = agent.client().post("/v1/cluster/join", Map.of("seed", seed, "token", token, "witness", witness));
            JsonNode node = answer.path("node");
            System.out.println("node '" + node.path("name").asText() + "' joined cluster '" + answer.path("cluster").asText()
                + "' as " + (node.path("witness").asBoolean() ? "witness" : node.path("role").asText().toLowerCase()));
        }
    }

    @Command(name = "leave", mixinStandardHelpOptions = true, description = "Take this node out of its cluster.")
    static final class Leave implements Runnable {
        @Mixin
        AgentOptions agent;

        @Override
        public void run() {
            JsonNode answer = agent.client().post("/v1/cluster/leave", Map.of());
            System.out.println("node '" + answer.path("node").asText() + "' left the cluster");
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true, description = "Remove another node (one that is dead or gone) from the cluster.")
    static final class Remove implements Runnable {
        @Mixin
        AgentOptions agent;
        @Parameters(paramLabel = "NODE")
        String node;

        @Override
        public void run() {
            JsonNode answer = agent.client().post("/v1/cluster/remove", Map.of("node", node));
            System.out.println("node '" + node + "' removed"
                + (answer.path("promoted").isTextual() ? "; '" + answer.path("promoted").asText() + "' now votes" : ""));
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true, description = "Nodes, leader, quorum, config_version, applied index.")
    static final class Status extends ApiView {
        @Override
        String path() {
            return "/v1/cluster/status";
        }

        @Override
        void print(JsonNode status) {
            if (!status.path("inCluster").asBoolean()) {
                System.out.println("node '" + status.path("node").asText() + "': " + status.path("message").asText());
                return;
            }
            JsonNode quorum = status.path("quorum");
            System.out.println("cluster:        " + status.path("cluster").asText());
            System.out.println("leader:         " + status.path("leader").asText("(election under way)")
                + "   term " + status.path("term").asLong());
            System.out.println("quorum:         " + quorumLine(quorum));
            System.out.println("config_version: " + status.path("configVersion").asLong());
            System.out.println("applied index:  " + status.path("appliedIndex").asLong() + " (on " + status.path("node").asText() + ")");
            System.out.println();
            var table = new Table("NODE", "ROLE", "STATE", "LEADER", "API", "RAFT", "MATCH", "LAST-CONTACT", "IN-QUORUM");
            for (JsonNode node : status.path("nodes")) {
                table.row(node.path("name").asText(), node.path("role").asText().toLowerCase(),
                    node.path("state").asText().toLowerCase(), node.path("leader").asBoolean() ? "*" : "",
                    node.path("apiAddress").asText(), node.path("raftAddress").asText(),
                    node.has("matchIndex") ? node.path("matchIndex").asLong() : "-",
                    node.has("lastContactMillis") ? node.path("lastContactMillis").asLong() + " ms" : "-",
                    node.has("countsForQuorum") ? (node.path("countsForQuorum").asBoolean() ? "yes" : "NO") : "-");
            }
            table.print(System.out);
        }

        /** One line whose yes/NO always agrees with the counts it shows (both come from the leader's view). */
        static String quorumLine(JsonNode quorum) {
            String verdict = quorum.path("ok").asBoolean() ? "yes" : "NO";
            if (quorum.has("up")) {
                return verdict + " (" + quorum.path("up").asLong() + " of " + quorum.path("voters").asLong()
                    + " voters up and caught up, " + quorum.path("needed").asLong() + " needed; "
                    + quorum.path("reason").asText() + ")";
            }
            return verdict + " (" + quorum.path("reason").asText() + ")";
        }
    }
}
