package fivenines.cli;

import fivenines.agent.Agent;
import fivenines.agent.AgentConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** Runs the agent daemon in the foreground. */
@Command(name = "agent", mixinStandardHelpOptions = true, description = "Run the agent on this node (foreground).")
final class AgentCommand implements Callable<Integer> {
    @Option(names = "--name", description = "this node's name (default: the host name)")
    String name;

    @Option(names = "--data", description = "data directory (default: ./nines-data)")
    Path data = Path.of("nines-data");

    @Option(names = "--listen", paramLabel = "HOST:PORT", description = "API address (default: 0.0.0.0:7600)")
    String listen = "0.0.0.0:" + AgentConfig.DEFAULT_API_PORT;

    @Option(names = "--raft-port", description = "store (Raft) port (default: API port + 1)")
    Integer raftPort;

    @Option(names = "--nbd-port", description = "block service (NBD) port (default: API port + 2)")
    Integer nbdPort;

    @Option(names = "--advertise", paramLabel = "HOST",
        description = "address other nodes reach this one at (default: the listen host, or this host's address)")
    String advertise;

    @Override
    public Integer call() throws Exception {
        AgentConfig config = config(name, data, listen, raftPort, nbdPort, advertise);
        Agent agent = Agent.start(config);
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("agent-shutdown")
            .unstarted(() -> agent.closeWithin(SHUTDOWN_WAIT)));
        agent.awaitExit();
        return 0;
    }

    /** How long a shutdown hook waits for the agent to stop before the JVM ends anyway. */
    static final java.time.Duration SHUTDOWN_WAIT = java.time.Duration.ofSeconds(5);

    static AgentConfig config(String name, Path data, String listen, Integer raftPort, Integer nbdPort, String advertise) {
        int colon = listen.lastIndexOf(':');
        if (colon <= 0) {
            throw new Nines.UsageException("--listen '" + listen + "' must be HOST:PORT, e.g. 0.0.0.0:7600");
        }
        String host = listen.substring(0, colon);
        int port;
        try {
            port = Integer.parseInt(listen.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new Nines.UsageException("--listen '" + listen + "' has no valid port");
        }
        if (port < 1 || port > 65533) {
            throw new Nines.UsageException("--listen port " + port + " is outside 1-65533");
        }
        String nodeName = name != null ? name : hostName();
        String advertised = advertise != null ? advertise
            : host.equals("0.0.0.0") || host.equals("::") ? hostAddress() : host;
        return new AgentConfig(nodeName, data.toAbsolutePath(), host, port, raftPort != null ? raftPort : port + 1,
            nbdPort != null ? nbdPort : port + 2, advertised);
    }

    private static String hostName() {
        try {
            String name = InetAddress.getLocalHost().getHostName();
            int dot = name.indexOf('.');
            return dot > 0 ? name.substring(0, dot) : name;
        } catch (UnknownHostException e) {
            return "node";
        }
    }

    private static String hostAddress() {
        try {
            return InetAddress.getLocalHost().getHostAddress();
        } catch (UnknownHostException e) {
            return "127.0.0.1";
        }
    }
}
