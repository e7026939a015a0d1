package fivenines.agent;

import java.nio.file.Path;

/**
 * How an agent runs. Precedence, lowest first: built-in defaults, then the command line.
 *
 * @param nodeName      this node's name in the cluster (defaults to the host name)
 * @param dataDir       where everything this node keeps lives
 * @param listenHost    the address the API binds to
 * @param apiPort       the REST API port
 * @param raftPort      the store's Raft (gRPC) port
 * @param nbdPort       the block service's NBD port
 * @param advertiseHost the address other nodes use to reach this one
 */
public record AgentConfig(String nodeName, Path dataDir, String listenHost, int apiPort, int raftPort,
                          int nbdPort, String advertiseHost) {

    public static final int DEFAULT_API_PORT = 7600;

    public String apiAddress() {
        return advertiseHost + ":" + apiPort;
    }

    public String raftAddress() {
        return advertiseHost + ":" + raftPort;
    }

    public String nbdAddress() {
        return advertiseHost + ":" + nbdPort;
    }

    public Path nbdSocket() {
        return dataDir.resolve("nbd.sock");
    }

    public String apiUrl() {
        String host = listenHost.equals("0.0.0.0") || listenHost.equals("::") ? "127.0.0.1" : listenHost;
        return (secureApi() ? "https://" : "http://") + host + ":" + apiPort;
    }

    /** Whether the API is HTTPS: whenever it listens beyond loopback (loopback may stay plain). */
    public boolean secureApi() {
        return !loopback(listenHost);
    }

    /** The URL of the API at {@code address} (HOST:PORT): HTTPS unless the host is a loopback one. */
    public static String apiUrlOf(String address) {
        int colon = address.lastIndexOf(':');
        String host = colon < 0 ? address : address.substring(0, colon);
        return (loopback(host) ? "http://" : "https://") + address;
    }

    static boolean loopback(String host) {
        String bare = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        return bare.equals("localhost") || bare.startsWith("127.") || bare.equals("::1");
    }
}
