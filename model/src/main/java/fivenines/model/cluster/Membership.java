package fivenines.model.cluster;

import fivenines.model.command.AddNode;
import fivenines.model.command.CreateCluster;
import fivenines.model.state.Names;
import fivenines.model.state.Rejection;

import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;

/** The cluster's identity and its nodes. Mutated only by the state machine. */
public final class Membership {
    public static final int DEFAULT_MAX_VOTERS = 5;
    public static final int MAX_VOTERS_LIMIT = 7;

    private String clusterName;
    private String secretSha256;
    private int maxVoters = DEFAULT_MAX_VOTERS;
    private final TreeMap<String, Node> nodes = new TreeMap<>();
    /** Each node's current certificate serial (lowercase hex), and serials no server may accept any more. */
    private final TreeMap<String, String> certificates = new TreeMap<>();
    private final TreeSet<String> revokedCertificates = new TreeSet<>();
    /** The last rotations of the secret, oldest first: a node that missed some opens them in turn. */
    private final java.util.ArrayList<SecretRotation> rotations = new java.util.ArrayList<>();
    /** Rotations kept: a node that was away for more of them than this joins again with the token. */
    public static final int ROTATIONS_KEPT = 32;

    /** One rotation: the digests of the secret before and after, and the new secret sealed under the one before. */
    public record SecretRotation(String previousSha256, String secretSha256, String sealed, long index) {
    }

    public boolean initialized() {
        return clusterName != null;
    }

    public String clusterName() {
        return clusterName;
    }

    public String secretSha256() {
        return secretSha256;
    }

    public int maxVoters() {
        return maxVoters;
    }

    /** The rotations of the secret the state keeps, oldest first. */
    public List<SecretRotation> secretRotations() {
        return List.copyOf(rotations);
    }

    public SecretRotation rotateSecret(fivenines.model.command.RotateSecret command, long index) {
        requireInitialized();
        if (command.secretSha256() == null || !command.secretSha256().matches("[0-9a-f]{64}")
            || command.previousSha256() == null || !command.previousSha256().matches("[0-9a-f]{64}")) {
            throw Rejection.invalid("a secret digest must be 64 lowercase hex digits");
        }
        if (command.sealed() == null || command.sealed().isBlank() || command.sealed().length() > 1024) {
            throw Rejection.invalid("the sealed secret is missing or too long");
        }
        if (!command.previousSha256().equals(secretSha256)) {
            throw Rejection.conflict("the cluster secret was rotated meanwhile; rotate again if you still want a new one");
        }
        if (command.secretSha256().equals(secretSha256)) {
            throw Rejection.invalid("the new secret is the current one");
        }
        var rotation = new SecretRotation(secretSha256, command.secretSha256(), command.sealed(), index);
        rotations.add(rotation);
        while (rotations.size() > ROTATIONS_KEPT) {
            rotations.removeFirst();
        }
        secretSha256 = command.secretSha256();
        return rotation;
    }

    public Collection<Node> nodes() {
        return nodes.values();
    }

    public Optional<Node> node(String name) {
        return Optional.ofNullable(nodes.get(name));
    }

    public Node requireNode(String name) {
        Node node = nodes.get(name);
        if (node == null) {
            throw Rejection.notFound("node '" + name + "' is not in the cluster; known nodes: " + nodes.keySet());
        }
        return node;
    }

    public long voterCount() {
        return nodes.values().stream().filter(Node::voter).count();
    }

    public List<Node> voters() {
        return nodes.values().stream().filter(Node::voter).toList();
    }

    public List<Node> members() {
        return nodes.values().stream().filter(n -> !n.voter()).toList();
    }

    public void create(CreateCluster command, long index) {
        if (initialized()) {
            throw new Rejection(Rejection.Reason.NOT_INITIALIZED,
                "the cluster '" + clusterName + "' exists already; join it instead of creating it");
        }
        Names.requireName("cluster", command.clusterName());
        Names.requireName("node", command.nodeName());
        Names.requireAddress("API address", command.apiAddress());
        Names.requireAddress("Raft address", command.raftAddress());
        if (command.secretSha256() == null || !command.secretSha256().matches("[0-9a-f]{64}")) {
            throw Rejection.invalid("the cluster secret digest must be 64 lowercase hex digits");
        }
        if (command.maxVoters() < 1 || command.maxVoters() > MAX_VOTERS_LIMIT || command.maxVoters() % 2 == 0) {
            throw Rejection.invalid("max voters is " + command.maxVoters() + "; use an odd number from 1 to "
                + MAX_VOTERS_LIMIT + " (5 is usual)");
        }
        clusterName = command.clusterName();
        secretSha256 = command.secretSha256();
        maxVoters = command.maxVoters();
        nodes.put(command.nodeName(), new Node(command.nodeName(), command.apiAddress(), command.raftAddress(),
            NodeRole.VOTER, false, NodeState.UP, index));
    }

    public Node add(AddNode command, long index) {
        requireInitialized();
        Names.requireName("node", command.name());
        Names.requireAddress("API address", command.apiAddress());
        Names.requireAddress("Raft address", command.raftAddress());
        Node existing = nodes.get(command.name());
        if (existing != null) {
            if (existing.apiAddress().equals(command.apiAddress()) && existing.raftAddress().equals(command.raftAddress())
                && existing.witness() == command.witness()) {
                return existing; // a retried join after a lost reply: same node, same answer
            }
            throw Rejection.conflict("a node named '" + command.name() + "' is already in the cluster at "
                + existing.apiAddress() + "; choose another name or remove that node first");
        }
        for (Node node : nodes.values()) {
            if (node.raftAddress().equals(command.raftAddress()) || node.apiAddress().equals(command.apiAddress())) {
                throw Rejection.conflict("node '" + node.name() + "' already uses address "
                    + command.apiAddress() + " / " + command.raftAddress());
            }
        }
        boolean roomForVoter = voterCount() < maxVoters;
        if (command.witness() && !roomForVoter) {
            throw Rejection.conflict("a witness must vote, and the cluster has its " + maxVoters
                + " voters already; remove a voter first");
        }
        Node node = new Node(command.name(), command.apiAddress(), command.raftAddress(),
            roomForVoter ? NodeRole.VOTER : NodeRole.MEMBER, command.witness(), NodeState.UP, index);
        nodes.put(node.name(), node);
        return node;
    }

    /** Removes a node; if it voted, promotes the longest-serving member that is up. Returns the promoted node, if any. */
    public Optional<Node> remove(String name) {
        requireInitialized();
        Node node = requireNode(name);
        if (node.voter() && voterCount() == 1) {
            throw Rejection.conflict("node '" + name + "' is the last voter; a cluster cannot remove its last voter");
        }
        nodes.remove(name);
        String serial = certificates.remove(name);
        if (serial != null) {
            revokedCertificates.add(serial);
        }
        if (!node.voter()) {
            return Optional.empty();
        }
        Optional<Node> candidate = nodes.values().stream()
            .filter(n -> !n.voter() && n.state() == NodeState.UP)
            .min(Comparator.comparingLong(Node::joinedAt));
        candidate.ifPresent(n -> nodes.put(n.name(), n.withRole(NodeRole.VOTER)));
        return candidate.map(n -> nodes.get(n.name()));
    }

    /**
     * Records a node's new certificate; the one it had before, if any, is revoked. Returns the serial.
     * A joining node's certificate is recorded before it is added, so that no replica ever sees the
     * node in the Raft group without its certificate (the leader would refuse its connection).
     */
    public String recordCertificate(String node, String serial) {
        requireInitialized();
        Names.requireName("node", node);
        if (serial == null || !serial.matches("[0-9a-f]{1,40}")) {
            throw Rejection.invalid("a certificate serial is 1 to 40 lowercase hex digits, not '" + serial + "'");
        }
        if (revokedCertificates.contains(serial)) {
            throw Rejection.conflict("certificate " + serial + " is revoked; node '" + node + "' needs a new certificate");
        }
        String previous = certificates.put(node, serial);
        if (previous != null && !previous.equals(serial)) {
            revokedCertificates.add(previous);
        }
        return serial;
    }

    /**
     * Whether a server may accept a peer that presents node {@code node}'s certificate with this
     * serial: only the node's recorded certificate is, never a revoked one. A state that records no
     * certificate at all (a replica that has not caught up yet; a cluster made before certificates)
     * accepts any that is not revoked: the chain to the cluster's CA is checked either way.
     */
    public boolean acceptsCertificate(String node, String serial) {
        if (revokedCertificates.contains(serial)) {
            return false;
        }
        return certificates.isEmpty() || serial.equals(certificates.get(node));
    }

    public Optional<String> certificate(String node) {
        return Optional.ofNullable(certificates.get(node));
    }

    public Node setState(String name, NodeState state) {
        requireInitialized();
        if (state == null) {
            throw Rejection.invalid("node state is missing; use UP or DOWN");
        }
        Node node = requireNode(name).withState(state);
        nodes.put(name, node);
        return node;
    }

    public void requireInitialized() {
        if (!initialized()) {
            throw new Rejection(Rejection.Reason.NOT_INITIALIZED,
                "this agent is not in a cluster yet: run 'nines cluster init --name NAME' or 'nines cluster join HOST:PORT --token T'");
        }
    }

    public Snapshot snapshot() {
        return new Snapshot(clusterName, secretSha256, maxVoters, List.copyOf(nodes.values()), new TreeMap<>(certificates),
            List.copyOf(revokedCertificates), List.copyOf(rotations));
    }

    public void restore(Snapshot snapshot) {
        clusterName = snapshot.clusterName();
        secretSha256 = snapshot.secretSha256();
        maxVoters = snapshot.maxVoters();
        nodes.clear();
        snapshot.nodes().forEach(n -> nodes.put(n.name(), n));
        certificates.clear();
        revokedCertificates.clear();
        // snapshots written before certificates existed have neither field
        if (snapshot.certificates() != null) {
            certificates.putAll(snapshot.certificates());
        }
        if (snapshot.revokedCertificates() != null) {
            revokedCertificates.addAll(snapshot.revokedCertificates());
        }
        rotations.clear();
        if (snapshot.secretRotations() != null) { // none in snapshots written before rotation existed
            rotations.addAll(snapshot.secretRotations());
        }
    }

    /** The serialisable form of this part of the state. */
    public record Snapshot(String clusterName, String secretSha256, int maxVoters, List<Node> nodes,
                           Map<String, String> certificates, List<String> revokedCertificates,
                           List<SecretRotation> secretRotations) {
    }
}
