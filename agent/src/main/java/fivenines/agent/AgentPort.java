package fivenines.agent;

import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashMap;
import java.util.List;

/**
 * One TCP port an agent listens on, and what for: the error that says it cannot be had
 * names the port, its use and the way out.
 *
 * @param host    the address the agent binds it on
 * @param port    the port
 * @param use     what it serves, as the error names it ("the store's Raft port, API port + 1")
 * @param option  the command-line option that moves it
 */
public record AgentPort(String host, int port, String use, String option) {

    /** The REST API port: {@code --listen}. */
    public static AgentPort api(AgentConfig config) {
        return new AgentPort(config.listenHost(), config.apiPort(), "the REST API port", "--listen");
    }

    /** The store's Raft (gRPC) port; Ratis binds it on the advertised address. */
    public static AgentPort raft(AgentConfig config) {
        boolean derived = config.raftPort() == config.apiPort() + 1;
        return new AgentPort(config.advertiseHost(), config.raftPort(),
            derived ? "the store's Raft port, API port + 1" : "the store's Raft port, --raft-port", derived ? "--listen" : "--raft-port");
    }

    /** The block service's NBD port. */
    public static AgentPort nbd(AgentConfig config) {
        boolean derived = config.nbdPort() == config.apiPort() + 2;
        return new AgentPort(config.listenHost(), config.nbdPort(),
            derived ? "the block service's NBD port, API port + 2" : "the block service's NBD port, --nbd-port", derived ? "--listen" : "--nbd-port");
    }

    /**
     * Every TCP port the agent listens on. Migration ports are not among them: each incoming
     * migration takes a free one when it starts. The NBD Unix socket lives in the data
     * directory, which the data directory's lock already keeps to one agent.
     */
    public static List<AgentPort> all(AgentConfig config) {
        return List.of(api(config), raft(config), nbd(config));
    }

    /**
     * Checks that every port of the agent can be bound, before the agent claims anything.
     * Another process may still take one between this check and the real bind; the servers
     * report that with {@link #unavailable} too.
     */
    static void requireFree(AgentConfig config) {
        var seen = new HashMap<Integer, AgentPort>();
        for (AgentPort port : all(config)) {
            AgentPort other = seen.putIfAbsent(port.port(), port);
            if (other != null) {
                throw new PortUnavailableException(port, "port " + port.port() + " is given both as " + other.use()
                    + " and as " + port.use() + "; give each its own (" + port.option() + ")", null);
            }
        }
        for (AgentPort port : all(config)) {
            try (var socket = new ServerSocket()) {
                // as the servers themselves: a connection of a previous run in TIME_WAIT does not count
                socket.setReuseAddress(true);
                socket.bind(new InetSocketAddress(port.host(), port.port()));
            } catch (IOException e) {
                throw port.unavailable(e);
            }
        }
    }

    /** "port 18601 (the store's Raft port, API port + 1) on 127.0.0.1" */
    public String describe() {
        return "port " + port + " (" + use + ") on " + host;
    }

    /** The error for a failed bind of this port, for an agent that is starting. */
    public PortUnavailableException unavailable(Throwable cause) {
        return new PortUnavailableException(this, describe() + " " + problem(cause) + "; " + moveIt()
            + " or stop the process that has it (" + whoHasIt() + " shows which)", cause);
    }

    /** The error for a failed bind of this port in a running agent (the store started by 'cluster init'). */
    public PortUnavailableException unavailableNow(Throwable cause) {
        return new PortUnavailableException(this, describe() + " " + problem(cause) + "; stop the process that has it ("
            + whoHasIt() + " shows which) and try again, or restart this agent and " + moveIt(), cause);
    }

    private String moveIt() {
        return option.equals("--listen") ? "choose another --listen port" : "choose another " + option;
    }

    private String whoHasIt() {
        return "ss -ltnp 'sport = :" + port + "'";
    }

    /** Whether a failure, or one of its causes, is a failed bind. */
    public static boolean isBindFailure(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof BindException || inUse(t)) {
                return true;
            }
        }
        return false;
    }

    private static String problem(Throwable cause) {
        for (Throwable t = cause; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (inUse(t)) {
                return "is in use by another process";
            }
        }
        Throwable root = cause;
        while (root != null && root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return "cannot be listened on (" + (root == null ? "unknown reason" : root.getMessage()) + ")";
    }

    private static boolean inUse(Throwable t) {
        // the JDK says "Address already in use"; Netty's epoll transport "bind(..) failed: Address already in use"
        return t.getMessage() != null && t.getMessage().contains("Address already in use");
    }
}
