package fivenines.cli;

import fivenines.agent.Agent;
import fivenines.agent.AgentConfig;
import fivenines.model.cluster.Membership;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** The embedded default: one agent, a one-node cluster, sensible defaults. */
@Command(name = "up", mixinStandardHelpOptions = true,
    description = "Run a single-node cluster here (agent + store), creating it on first start. Ctrl-C stops it.")
final class UpCommand implements Callable<Integer> {
    @Option(names = "--data", description = "data directory (default: ./nines-data)")
    Path data = Path.of("nines-data");

    @Option(names = "--listen", paramLabel = "HOST:PORT", description = "API address (default: 127.0.0.1:7600)")
    String listen = "127.0.0.1:" + AgentConfig.DEFAULT_API_PORT;

    @Option(names = "--cluster", description = "cluster name on first start (default: local)")
    String clusterName = "local";

    @Option(names = "--name", description = "this node's name (default: the host name)")
    String name;

    @Option(names = "--local-pv-size", description = "size of the sparse file-backed physical volume made on first start (default 20G)")
    String localPvSize = "20G";

    /** The embedded default: a sparse file in the data directory as this node's first PV, in volume group 'local'. */
    private void createLocalVolumeGroup(Agent agent, AgentConfig config) {
        var file = config.dataDir().resolve("local-pv.img");
        var pv = agent.physicalVolumes().create(file, Sizes.parse(localPvSize), fivenines.model.storage.Storage.DEFAULT_EXTENT_SIZE);
        agent.cluster().store().submitAndWait(new fivenines.model.command.CreateVolumeGroup("local", java.util.List.of(pv.id())));
    }

    private static boolean isLoopback(String host) {
        return host.equals("localhost") || host.startsWith("127.") || host.equals("::1");
    }

    @Override
    public Integer call() throws Exception {
        AgentConfig config = AgentCommand.config(name, data, listen, null, null, null);
        Agent agent = Agent.start(config);
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("agent-shutdown").unstarted(() -> {
            agent.closeWithin(AgentCommand.SHUTDOWN_WAIT);
            System.err.println("fivenines stopped; its state is kept in " + config.dataDir());
        }));
        boolean created = false;
        if (!agent.cluster().inCluster()) {
            try {
                agent.cluster().init(clusterName, Membership.DEFAULT_MAX_VOTERS);
            } catch (fivenines.agent.api.ApiException e) {
                agent.close();
                throw new fivenines.agent.AgentStartException("cannot create cluster '" + clusterName + "': " + e.getMessage(), e);
            }
            created = true;
        }
        agent.cluster().awaitLeader(java.time.Duration.ofSeconds(60));
        if (created) {
            createLocalVolumeGroup(agent, config);
        }
        String cluster = agent.cluster().identity().clusterName();
        String cli = "./nines";
        var out = System.out;
        out.println();
        out.println("fivenines is up: cluster '" + cluster + "' (" + (created ? "created now" : "recovered from disk")
            + "), node '" + config.nodeName() + "'");
        out.println("  API:         " + config.apiUrl() + "   (description: " + config.apiUrl() + "/v1/openapi.yaml)");
        out.println("  console:     " + config.apiUrl() + "/   (sign in with the token 'nines cluster token' prints)");
        out.println("  data:        " + config.dataDir());
        out.println("  credential:  " + agent.credentials().file() + " (the CLI on this machine finds it by itself)");
        out.println();
        boolean defaultAgent = config.apiPort() == AgentConfig.DEFAULT_API_PORT
            && (config.listenHost().equals("127.0.0.1") || config.listenHost().equals("0.0.0.0") || config.listenHost().equals("localhost"));
        if (defaultAgent) {
            out.println("Next, in another terminal:");
        } else {
            out.println("Next, in another terminal (this agent is not at the CLI's default http://127.0.0.1:"
                + AgentConfig.DEFAULT_API_PORT + "):");
            out.println("  export NINES_AGENT=" + config.apiUrl());
        }
        out.println("  " + cli + " cluster status");
        out.println("  " + cli + " config set fence.timeout 30");
        out.println("  " + cli + " lock acquire demo --wait 5 && " + cli + " lock list");
        out.println("  " + cli + " lv create -n disk0 -L 1G local     # a volume in the embedded volume group");
        out.println("  " + cli + " lv list && " + cli + " pv list");
        out.println("  " + cli + " mcp plugin list");
        String apiPort = String.valueOf(config.apiPort());
        if (isLoopback(config.listenHost())) {
            out.println("To add machines, start it with '--listen IP:" + apiPort + "' on an address they reach: this agent"
                + " listens on " + config.listenHost() + " only.");
        } else {
            out.println("To add a machine: on it, '" + cli + " agent --name NAME --listen ITS_IP:" + AgentConfig.DEFAULT_API_PORT
                + "', then '" + cli + " cluster join " + config.advertiseHost() + ":" + apiPort + " --token "
                + agent.credentials().secret() + "' (this cluster exists already: no 'cluster init' there)");
        }
        out.println("Ctrl-C stops it.");
        out.flush();
        agent.awaitExit();
        return 0;
    }
}
