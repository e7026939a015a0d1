package fivenines.agent.api;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.AgentConfig;
import fivenines.agent.cluster.ClusterService;
import fivenines.model.cluster.Membership;
import fivenines.model.cluster.Node;
import fivenines.store.Quorum;
import fivenines.store.StoreStatus;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Membership: init, join, leave, remove, status. */
public final class ClusterRoutes {
    private final AgentConfig config;
    private final ClusterService cluster;

    public ClusterRoutes(AgentConfig config, ClusterService cluster) {
        this.config = config;
        this.cluster = cluster;
    }

    public void register(Router router) {
        router.add("GET", "/v1/cluster/status", r -> status());
        router.add("POST", "/v1/cluster/init", this::init);
        router.add("POST", "/v1/cluster/join", this::join);
        router.add("POST", "/v1/cluster/join-offer", this::offer);
        router.addOpen("POST", "/v1/cluster/hello", r -> cluster.hello(r.requireText("nonce")));
        router.add("POST", "/v1/cluster/admit", this::admit);
        router.add("POST", "/v1/cluster/leave", r -> {
            cluster.leave();
            return Map.of("left", true, "node", config.nodeName());
        });
        router.add("POST", "/v1/cluster/remove", r -> cluster.remove(r.requireText("node"), "removed by operator"));
        router.add("POST", "/v1/cluster/token/rotate", r -> cluster.rotateSecret());
    }

    private Object init(ApiRequest request) {
        JsonNode body = request.json();
        String name = request.requireText("name");
        int maxVoters = body.path("maxVoters").asInt(Membership.DEFAULT_MAX_VOTERS);
        Node node = cluster.init(name, maxVoters);
        var answer = new LinkedHashMap<String, Object>();
        answer.put("cluster", name);
        answer.put("node", node);
        answer.put("joinToken", "(the agent's secret: see " + config.dataDir().resolve("secret") + ")");
        return answer;
    }

    private Object join(ApiRequest request) {
        JsonNode body = request.json();
        Node node = cluster.join(request.requireText("seed"), request.requireText("token"), body.path("witness").asBoolean(false));
        return Map.of("cluster", cluster.identity().clusterName(), "node", node);
    }

    private Object offer(ApiRequest request) {
        var addresses = new ArrayList<String>();
        request.json().path("addresses").forEach(a -> addresses.add(a.asText()));
        return cluster.offer(request.requireText("name"), request.requireText("publicKey"), addresses);
    }

    private Object admit(ApiRequest request) {
        JsonNode body = request.json();
        String serial = body.path("certificateSerial").asText(null);
        return cluster.admit(request.requireText("name"), request.requireText("apiAddress"),
            request.requireText("raftAddress"), body.path("witness").asBoolean(false), serial);
    }

    /** Nodes, leader, quorum, config_version and the applied log index. */
    public Map<String, Object> status() {
        var answer = new LinkedHashMap<String, Object>();
        answer.put("node", config.nodeName());
        answer.put("inCluster", cluster.inCluster());
        if (!cluster.rotationProblem().isEmpty()) {
            answer.put("secretProblem", cluster.rotationProblem()); // this node cannot follow the cluster secret's rotations
        }
        if (!cluster.inCluster()) {
            answer.put("message", "not in a cluster: run 'nines cluster init --name NAME' or 'nines cluster join HOST:PORT --token T'");
            return answer;
        }
        var store = cluster.store();
        StoreStatus status = store.status();
        var nodes = store.read(s -> List.copyOf(s.membership().nodes()));
        long configVersion = store.read(s -> s.configuration().version());
        answer.put("cluster", cluster.identity().clusterName());
        answer.put("leader", status.leader());
        answer.put("term", status.term());
        answer.put("role", status.role());
        answer.put("appliedIndex", status.appliedIndex());
        answer.put("configVersion", configVersion);
        // from which voters the leader hears and which have caught up, not from the states in the store
        Quorum quorum = status.quorum();
        var quorumAnswer = new LinkedHashMap<String, Object>();
        quorumAnswer.put("seenFrom", quorum.seenFrom());
        quorumAnswer.put("voters", quorum.voters());
        if (quorum.up() >= 0) {
            quorumAnswer.put("up", quorum.up());
        }
        quorumAnswer.put("needed", quorum.needed());
        quorumAnswer.put("ok", quorum.ok());
        quorumAnswer.put("reason", quorum.reason());
        answer.put("quorum", quorumAnswer);
        answer.put("commitIndex", status.commitIndex());
        var rows = new ArrayList<Map<String, Object>>();
        for (Node node : nodes) {
            var row = new LinkedHashMap<String, Object>();
            row.put("name", node.name());
            row.put("role", node.witness() ? "WITNESS" : node.role().name());
            row.put("state", node.state().name());
            row.put("leader", node.name().equals(status.leader()));
            row.put("apiAddress", node.apiAddress());
            row.put("raftAddress", node.raftAddress());
            status.peers().stream().filter(p -> p.name().equals(node.name())).findFirst().ifPresent(p -> {
                row.put("matchIndex", p.matchIndex());
                row.put("lastContactMillis", p.lastContactMillis());
            });
            quorum.detail().stream().filter(v -> v.name().equals(node.name())).findFirst()
                .ifPresent(v -> row.put("countsForQuorum", v.up())); // heard lately and caught up
            rows.add(row);
        }
        answer.put("nodes", rows);
        answer.put("raftVoters", status.voters());
        answer.put("raftListeners", status.listeners());
        return answer;
    }
}
