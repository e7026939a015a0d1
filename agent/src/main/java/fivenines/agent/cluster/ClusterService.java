package fivenines.agent.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.AgentConfig;
import fivenines.agent.AgentPort;
import fivenines.agent.Credentials;
import fivenines.agent.api.ApiException;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;
import fivenines.agent.pki.Certificates;
import fivenines.agent.pki.ClusterTls;
import fivenines.agent.pki.JoinProof;
import fivenines.agent.pki.Pem;
import fivenines.model.cluster.Node;
import fivenines.model.command.AddNode;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.RecordCertificate;
import fivenines.model.command.RemoveNode;
import fivenines.model.state.Result;
import fivenines.store.ClusterStore;
import fivenines.store.StoreConfig;
import fivenines.store.StoreException;
import fivenines.store.StoreTls;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PublicKey;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * This node's part in the cluster: creating, joining and leaving it, and the store replica
 * that comes with membership. Raft membership follows the nodes in the store: the state
 * decides who votes, and {@link #reconcileRaftMembers()} makes Ratis agree.
 */
public final class ClusterService implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterService.class);
    private final AgentConfig config;
    private final Credentials credentials;
    private final ClusterTls tls;
    private final List<Consumer<ClusterStore>> storeListeners = new CopyOnWriteArrayList<>();
    private volatile ClusterStore store;
    private volatile ClusterIdentity identity;
    /** Set by close(), which does not wait for this service's monitor; a replica started after it is closed at once. */
    private volatile boolean closed;
    private final Object storeSwap = new Object();
    private final long snapshotEvery;

    public ClusterService(AgentConfig config, Credentials credentials) {
        this.config = config;
        this.credentials = credentials;
        this.tls = ClusterTls.open(config.dataDir());
        tls.makeStartupCertificate(config.nodeName(), certificateAddresses(), Instant.now());
        tls.refuse(certificate -> {
            ClusterStore current = store;
            return current != null && !current.read(s -> s.membership().acceptsCertificate(Certificates.commonName(certificate),
                Certificates.serial(certificate)));
        });
        this.snapshotEvery = StoreConfig.snapshotEvery(System.getProperty(StoreConfig.SNAPSHOT_EVERY_PROPERTY));
        onStoreStarted(this::followRotations);
    }

    // ---- rotation of the cluster secret ----

    /** Seconds the secret before a rotation is still taken (API and store), while every node switches. */
    public static final String TOKEN_GRACE_KEY = "cluster.token_grace_seconds";
    public static final long DEFAULT_TOKEN_GRACE_SECONDS = 30;
    private final Object rotation = new Object();
    private volatile String rotationProblem = "";
    private int rotationFailures;

    /**
     * Makes a new cluster secret (the join token): committed as a {@code RotateSecret} that every
     * node applies by switching to it; the one before is still taken for the grace
     * ({@code cluster.token_grace_seconds}), then refused everywhere.
     */
    public Map<String, Object> rotateSecret() {
        ClusterStore current = store();
        synchronized (rotation) {
            String before = credentials.secret();
            String next = Credentials.newSecret();
            ApiException.valueOf(current.submitAndWait(new fivenines.model.command.RotateSecret(Credentials.sha256(before),
                Credentials.sha256(next), SecretRotations.seal(before, next))));
            adoptRotations(current);
            var answer = new java.util.LinkedHashMap<String, Object>();
            answer.put("token", credentials.secret());
            answer.put("graceSeconds", tokenGrace(current).toSeconds());
            return answer;
        }
    }

    /** What stops this node from following the cluster's secret, or "" when nothing does. */
    public String rotationProblem() {
        return rotationProblem;
    }

    /** Each store replica: the rotations it applies, and a check every 2 s (a snapshot installed from the leader says nothing). */
    private void followRotations(ClusterStore started) {
        started.addListener((index, command, result, state) -> {
            if (command instanceof fivenines.model.command.RotateSecret && result instanceof fivenines.model.state.Result.Applied) {
                Thread.ofVirtual().name("secret-rotation").start(() -> adoptRotations(started));
            }
        });
        Thread.ofVirtual().name("secret-rotation-check").start(() -> {
            while (store == started && !closed) {
                adoptRotations(started);
                sleep(2000);
            }
        });
    }

    private void adoptRotations(ClusterStore current) {
        synchronized (rotation) {
            if (store != current) {
                return;
            }
            try {
                String stateSha = current.read(s -> s.membership().secretSha256());
                if (stateSha == null) {
                    return;
                }
                var rotations = current.read(s -> s.membership().secretRotations());
                var next = SecretRotations.follow(credentials.secret(), stateSha, rotations);
                if (next.isPresent()) {
                    Duration grace = tokenGrace(current);
                    credentials.rotate(next.get(), grace);
                    current.rotateSecret(credentials.secretBytes(), grace);
                    LOG.info("the cluster secret was rotated: node {} uses the new one; the one before is taken for {} s more",
                        config.nodeName(), grace.toSeconds());
                }
                rotationProblem = "";
                rotationFailures = 0;
            } catch (IllegalStateException e) {
                // a replica replaying a state older than this node's secret says the same for a moment: warned once it lasts
                if (++rotationFailures == 15) {
                    LOG.warn("cannot follow the cluster secret: {}", e.getMessage());
                }
                rotationProblem = e.getMessage();
                return;
            } catch (RuntimeException e) {
                LOG.debug("checking the cluster secret's rotations: {}", e.getMessage());
            }
        }
    }

    private static Duration tokenGrace(ClusterStore current) {
        long seconds = current.read(s -> s.configuration().get(TOKEN_GRACE_KEY).map(v -> {
            try {
                return Long.parseLong(v.strip());
            } catch (NumberFormatException e) {
                return DEFAULT_TOKEN_GRACE_SECONDS;
            }
        }).orElse(DEFAULT_TOKEN_GRACE_SECONDS));
        return Duration.ofSeconds(Math.max(0, Math.min(seconds, 3600)));
    }

    /** Told of each store replica this service starts (after init, join or a restart). */
    public void onStoreStarted(Consumer<ClusterStore> listener) {
        storeListeners.add(listener);
        if (store != null) {
            listener.accept(store);
        }
    }

    /** Recovers membership from disk if this node was in a cluster. */
    public synchronized void start() {
        closed = false;
        if (store != null) {
            return;
        }
        ClusterIdentity.load(config.dataDir()).ifPresent(id -> {
            identity = id; // set before the store so that nobody sees a store without an identity
            startStore(UUID.fromString(id.groupId()), ClusterStore.Start.RECOVER);
            LOG.info("rejoined cluster '{}' from {}", id.clusterName(), config.dataDir());
        });
    }

    /** This node's certificates and the TLS context every server and client of the node uses. */
    public ClusterTls tls() {
        return tls;
    }

    /**
     * A client of another agent's API: HTTPS (trusting the cluster's CA, and only members the store
     * accepts) unless the address is a loopback one.
     */
    public AgentClient client(String apiAddress, String token, Duration timeout) {
        return new AgentClient(AgentConfig.apiUrlOf(apiAddress), token, timeout, tls.context());
    }

    /**
     * Answered to anyone, before a join: the cluster's CA certificate and a proof that this member
     * knows the join token, so that a joining node trusts this CA before it sends the token.
     */
    public Map<String, Object> hello(String nonce) {
        store();
        if (nonce == null || !nonce.matches("[0-9a-f]{64}")) {
            throw ApiException.badRequest("nonce must be 64 hex digits");
        }
        if (!tls.ready()) {
            throw new ApiException(409, "node '" + config.nodeName() + "' has no cluster certificate", false);
        }
        return Map.of("authority", Pem.certificate(tls.authority()),
            "proof", JoinProof.of(credentials.secret(), nonce, tls.authority()));
    }

    /** On the joining node: the seed's CA, once the seed proved it knows the token; nothing secret is sent before. */
    private SSLContext pinnedAuthority(String seedUrl, String token) {
        String nonce = JoinProof.nonce();
        JsonNode hello;
        try {
            hello = new AgentClient(seedUrl, null, Duration.ofSeconds(30), JoinProof.trustingAnyone())
                .post("/v1/cluster/hello", Map.of("nonce", nonce));
        } catch (AgentClientException e) {
            throw new ApiException(502, "joining through " + seedUrl + " failed: " + e.getMessage(), false);
        }
        var authority = Pem.readCertificate(hello.path("authority").asText());
        if (!JoinProof.of(token, nonce, authority).equals(hello.path("proof").asText())) {
            throw new ApiException(403, "the agent at " + seedUrl + " does not know this join token (or something between"
                + " poses as it); nothing was sent to it. Check the token ('nines cluster token' on a member)", false);
        }
        return JoinProof.trusting(authority);
    }

    /** The addresses a node certificate of this node names: where other nodes and local tools reach it. */
    private List<String> certificateAddresses() {
        var addresses = new ArrayList<String>();
        addresses.add(config.advertiseHost());
        if (!config.listenHost().equals("0.0.0.0") && !config.listenHost().equals("::")) {
            addresses.add(config.listenHost());
        }
        addresses.add("127.0.0.1");
        addresses.add("localhost");
        return addresses.stream().distinct().toList();
    }

    public boolean inCluster() {
        return store != null;
    }

    public ClusterIdentity identity() {
        return identity;
    }

    public ClusterStore store() {
        ClusterStore current = store;
        if (current == null) {
            throw new ApiException(409, "node '" + config.nodeName() + "' is not in a cluster yet: run "
                + "'nines cluster init --name NAME' here, or 'nines cluster join HOST:PORT --token T'");
        }
        return current;
    }

    private Path raftDir() {
        return config.dataDir().resolve("raft");
    }

    private void startStore(UUID groupId, ClusterStore.Start start) {
        var storeConfig = new StoreConfig(config.nodeName(), config.advertiseHost(), config.raftPort(), raftDir(),
            credentials.secretBytes(), snapshotEvery, StoreConfig.DEFAULT_REQUEST_TIMEOUT);
        if (tls.ready()) {
            // Raft's gRPC with mutual TLS: peers and clients need a node certificate of the cluster
            storeConfig = storeConfig.withTls(new StoreTls(tls.keyManager(), tls.trustManager()));
        }
        ClusterStore started;
        try {
            started = ClusterStore.start(storeConfig, groupId, start);
        } catch (StoreException e) {
            if (!AgentPort.isBindFailure(e)) {
                throw e;
            }
            AgentPort raft = AgentPort.raft(config);
            String reason = (start == ClusterStore.Start.RECOVER ? raft.unavailable(e) : raft.unavailableNow(e)).getMessage();
            // Ratis has just logged "Terminating with exit status 1", but it threw instead of exiting: say so
            LOG.warn("the store replica did not start (the process is not ending): {}", reason);
            throw new ApiException(503, "cannot start the store replica of node '" + config.nodeName() + "': " + reason, false);
        }
        store = started;
        if (closed) {
            // close() ran while the replica started and found none to stop
            stopStore();
            throw new ApiException(503, "agent '" + config.nodeName() + "' is stopping", false);
        }
        storeListeners.forEach(l -> l.accept(started));
    }

    /** Makes a one-node cluster of this node; its secret becomes the cluster's join token. */
    public synchronized Node init(String clusterName, int maxVoters) {
        if (store != null) {
            throw ApiException.conflict("node '" + config.nodeName() + "' is already in cluster '"
                + identity.clusterName() + "'; leave it first ('nines cluster leave')");
        }
        fivenines.model.state.Names.requireName("cluster", clusterName);
        UUID groupId = UUID.randomUUID();
        wipeRaftDir();
        identity = new ClusterIdentity(clusterName, groupId.toString());
        try {
            tls.createAuthority(clusterName, config.nodeName(), certificateAddresses(), Instant.now());
            startStore(groupId, ClusterStore.Start.NEW_GROUP);
            awaitLeader(Duration.ofSeconds(30));
            Result result = store.submitAndWait(new CreateCluster(clusterName, Credentials.sha256(credentials.secret()),
                config.nodeName(), config.apiAddress(), config.raftAddress(), maxVoters));
            Node node = (Node) ApiException.valueOf(result);
            ApiException.valueOf(store.submitAndWait(new RecordCertificate(config.nodeName(),
                Certificates.serial(tls.certificate()))));
            identity.save(config.dataDir());
            return node;
        } catch (RuntimeException e) {
            stopStore();
            wipeRaftDir();
            tls.forget();
            identity = null;
            throw e;
        }
    }

    /**
     * Answered by a member to a node that asks to join, once its token checked out: the cluster, and
     * the node's certificate signed for the public key it sent, with the CA's certificate and key
     * (every member keeps the CA, so that any of them can sign for the next node).
     */
    public JoinOffer offer(String name, String publicKey, List<String> addresses) {
        var current = store();
        fivenines.model.state.Names.requireName("node", name);
        if (!tls.canSign()) {
            throw new ApiException(409, "node '" + config.nodeName() + "' keeps no cluster CA (it was made before certificates"
                + " existed); join through a member that has " + tls.directory().resolve("ca-key.pem"), false);
        }
        PublicKey key;
        try {
            key = Pem.readPublicKey(publicKey);
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(e.getMessage());
        }
        if (addresses.size() > 16 || addresses.stream().anyMatch(a -> !a.matches("[A-Za-z0-9.:\\-]{1,253}"))) {
            throw ApiException.badRequest("addresses must be at most 16 host names or IP addresses, not " + addresses);
        }
        var certificate = tls.issue(identity.clusterName(), name, key, addresses, Instant.now());
        return new JoinOffer(identity.clusterName(), current.groupId(), Pem.certificate(certificate),
            Pem.certificate(tls.authority()), Pem.privateKey(tls.authorityKey(), tls.authority().getPublicKey()));
    }

    /** On a member: admits a node that has started its empty replica. */
    public Node admit(String name, String apiAddress, String raftAddress, boolean witness, String certificateSerial) {
        ClusterStore current = store();
        if (certificateSerial != null) {
            // before the node: the manager on the leader adds every node in the state to the Raft group, and the
            // leader's connection to a node whose certificate it does not know yet would be refused (and retried
            // only after gRPC's back-off)
            ApiException.valueOf(current.submitAndWait(new RecordCertificate(name, certificateSerial)));
        }
        Node node = (Node) ApiException.valueOf(current.submitAndWait(new AddNode(name, apiAddress, raftAddress, witness)));
        try {
            reconcileRaftMembers();
        } catch (StoreException e) {
            LOG.warn("node {} could not be added to the Raft group; taking it out again", name, e);
            current.submitAndWait(new RemoveNode(name, "join failed: " + e.getMessage()));
            throw new ApiException(503, "node '" + name + "' could not be added to the Raft group: " + e.getMessage()
                + "; check that its Raft address " + raftAddress + " is reachable from the cluster", false);
        }
        return node;
    }

    /** On the joining node: asks a member to admit this node. */
    public synchronized Node join(String seedAddress, String token, boolean witness) {
        if (store != null) {
            throw ApiException.conflict("node '" + config.nodeName() + "' is already in cluster '"
                + identity.clusterName() + "'; leave it first ('nines cluster leave')");
        }
        if (token == null || !token.matches("[0-9a-f]{64}")) {
            throw ApiException.badRequest("the join token must be the 64 hex digits that 'nines cluster init' printed");
        }
        String seedUrl = AgentConfig.apiUrlOf(seedAddress);
        var seed = new AgentClient(seedUrl, token, Duration.ofSeconds(90),
            seedUrl.startsWith("https://") ? pinnedAuthority(seedUrl, token) : null);
        var key = Certificates.newKeyPair();
        JsonNode offer;
        try {
            offer = seed.post("/v1/cluster/join-offer", Map.of("name", config.nodeName(),
                "publicKey", Pem.publicKey(key.getPublic()),
                "addresses", certificateAddresses()));
        } catch (AgentClientException e) {
            throw new ApiException(e.status() == 401 ? 403 : 502, "joining through " + seedAddress + " failed: " + e.getMessage());
        }
        String clusterName = offer.path("clusterName").asText();
        UUID groupId = UUID.fromString(offer.path("groupId").asText());
        String previousSecret = credentials.secret();
        credentials.replace(token);
        wipeRaftDir();
        identity = new ClusterIdentity(clusterName, groupId.toString());
        try {
            tls.adopt(Pem.readCertificate(offer.path("authority").asText()), Pem.readPrivateKey(offer.path("authorityKey").asText()),
                Pem.readCertificate(offer.path("certificate").asText()), key);
            startStore(groupId, ClusterStore.Start.JOIN_GROUP);
            seed.post("/v1/cluster/admit", Map.of("name", config.nodeName(), "apiAddress", config.apiAddress(),
                "raftAddress", config.raftAddress(), "witness", witness,
                "certificateSerial", Certificates.serial(tls.certificate())));
            identity.save(config.dataDir());
            awaitSelfInState(Duration.ofSeconds(60));
            return store.read(s -> s.membership().requireNode(config.nodeName()));
        } catch (RuntimeException e) {
            stopStore();
            wipeRaftDir();
            tls.forget();
            ClusterIdentity.forget(config.dataDir());
            identity = null;
            credentials.replace(previousSecret);
            if (e instanceof AgentClientException client) {
                throw new ApiException(client.status() >= 400 ? client.status() : 502,
                    "joining through " + seedAddress + " failed: " + client.getMessage(), client.mayHaveHappened());
            }
            throw e;
        }
    }

    /** Takes this node out of the cluster and forgets the cluster locally. */
    public synchronized void leave() {
        remove(config.nodeName(), RemoveNode.LEFT);
        stopStore();
        ClusterIdentity.forget(config.dataDir());
        identity = null;
        wipeRaftDir();
        tls.forget();
        LOG.info("node {} left the cluster", config.nodeName());
    }

    /** Removes a node (one that left, or a dead one) from the state and the Raft group. */
    public StateRemoval remove(String name, String reason) {
        ClusterStore current = store();
        var removed = (fivenines.model.state.StateMachine.NodeRemoved) ApiException.valueOf(
            current.submitAndWait(new RemoveNode(name, reason)));
        reconcileRaftMembers();
        return new StateRemoval(removed.name(), removed.promoted() == null ? null : removed.promoted().name());
    }

    /** Whether Ratis' voters and listeners are the nodes the state says vote and follow. */
    public boolean raftMembersMatchState() {
        ClusterStore current = store();
        var nodes = current.read(s -> List.copyOf(s.membership().nodes()));
        var status = current.status();
        return names(nodes, true).equals(status.voters()) && names(nodes, false).equals(status.listeners());
    }

    private static List<String> names(List<Node> nodes, boolean voters) {
        return nodes.stream().filter(n -> n.voter() == voters).map(Node::name).sorted().toList();
    }

    private static List<ClusterStore.RaftMember> members(List<Node> nodes, boolean voters) {
        return nodes.stream().filter(n -> n.voter() == voters)
            .map(n -> new ClusterStore.RaftMember(n.name(), n.raftAddress())).toList();
    }

    /**
     * Makes the Raft group's voters and listeners match the nodes in the state. Another
     * node's manager may be changing the configuration at the same moment, and Ratis takes
     * one change at a time, so this retries until the group matches.
     */
    public void reconcileRaftMembers() {
        // one change at a time from this node (the leader's manager tick and a removal or admission here would
        // otherwise send changes computed from the same configuration at once)
        synchronized (membershipChange) {
            reconcileRaftMembersNow();
        }
    }

    private final Object membershipChange = new Object();

    private void reconcileRaftMembersNow() {
        StoreException last = null;
        for (int attempt = 0; attempt < 20; attempt++) {
            ClusterStore current = store();
            var nodes = current.read(s -> List.copyOf(s.membership().nodes()));
            if (nodes.stream().noneMatch(Node::voter)) {
                return; // the cluster is being created: nothing in the state to follow yet
            }
            if (attempt > 0 && raftMembersMatchState()) {
                return;
            }
            try {
                current.setMembers(members(nodes, true), members(nodes, false));
                return;
            } catch (StoreException e) {
                last = e;
                LOG.debug("Raft membership change attempt {} failed: {}", attempt + 1, e.getMessage());
                sleep(300);
            }
        }
        throw last;
    }

    public void awaitLeader(Duration timeout) {
        Instant deadline = Instant.now().plus(timeout);
        while (store().status().leader() == null) {
            if (Instant.now().isAfter(deadline)) {
                throw new ApiException(503, "no store leader was elected within " + timeout.toSeconds()
                    + " s; check that a majority of voters runs ('nines cluster status')", false);
            }
            sleep(50);
        }
    }

    private void awaitSelfInState(Duration timeout) {
        Instant deadline = Instant.now().plus(timeout);
        while (store().read(s -> s.membership().node(config.nodeName()).isEmpty())) {
            if (Instant.now().isAfter(deadline)) {
                throw new ApiException(504, "this node was admitted but has not caught up with the cluster within "
                    + timeout.toSeconds() + " s", true);
            }
            sleep(50);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiException(503, "interrupted", true);
        }
    }

    private void stopStore() {
        ClusterStore current;
        synchronized (storeSwap) {
            current = store;
            store = null;
        }
        if (current != null) {
            try {
                current.close();
            } catch (RuntimeException e) {
                LOG.warn("closing the store replica failed", e);
            }
        }
    }

    private void wipeRaftDir() {
        Path dir = raftDir();
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot clear old store data in " + dir, e);
        }
    }

    /**
     * Stops the replica without taking this service's monitor: the agent's shutdown hook calls
     * this, and a request may hold the monitor for a long time (an init waiting for a leader, a
     * join waiting for its seed). That request then fails on the closed store.
     */
    @Override
    public void close() {
        closed = true;
        stopStore();
    }

    /** What a member tells a node that may join. */
    public record JoinOffer(String clusterName, String groupId, String certificate, String authority, String authorityKey) {
    }

    /** What a removal did. */
    public record StateRemoval(String removed, String promoted) {
    }
}
