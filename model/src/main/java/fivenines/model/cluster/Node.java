package fivenines.model.cluster;

/**
 * A machine in the cluster. {@code joinedAt} is the log index of its admission and orders
 * promotions: the longest-serving member is promoted first.
 */
public record Node(String name, String apiAddress, String raftAddress, NodeRole role,
                   boolean witness, NodeState state, long joinedAt) {

    public Node withRole(NodeRole newRole) {
        return new Node(name, apiAddress, raftAddress, newRole, witness, state, joinedAt);
    }

    public Node withState(NodeState newState) {
        return new Node(name, apiAddress, raftAddress, role, witness, newState, joinedAt);
    }

    public boolean voter() {
        return role == NodeRole.VOTER;
    }
}
