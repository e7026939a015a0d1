package fivenines.agent.vm;

import fivenines.agent.Credentials;
import fivenines.agent.api.ApiException;
import fivenines.agent.client.AgentClient;
import fivenines.agent.cluster.ClusterService;
import fivenines.model.cluster.Node;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Clients of the other nodes' agents, one per peer (and its kept-alive connections). */
final class PeerAgents {
    private final ClusterService cluster;
    private final Credentials credentials;
    private final Map<String, AgentClient> peers = new ConcurrentHashMap<>();

    PeerAgents(ClusterService cluster, Credentials credentials) {
        this.cluster = cluster;
        this.credentials = credentials;
    }

    AgentClient client(String node) {
        Node member = cluster.store().read(s -> s.membership().node(node)).orElseThrow(() -> ApiException.notFound(
            "no node '" + node + "'"));
        String url = fivenines.agent.AgentConfig.apiUrlOf(member.apiAddress());
        String secret = credentials.secret();
        // one client per peer: a new one costs a connection and a selector thread
        return peers.compute(node, (n, known) -> known != null && known.baseUrl().equals(url) && known.token().equals(secret)
            ? known : cluster.client(member.apiAddress(), secret, Duration.ofSeconds(60)));
    }
}
