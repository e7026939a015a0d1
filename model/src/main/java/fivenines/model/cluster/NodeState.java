package fivenines.model.cluster;

/** What the cluster believes about a node. */
public enum NodeState {
    /** Heard from recently. */
    UP,
    /** Not heard from within the dead timeout; its locks are released. */
    DOWN
}
