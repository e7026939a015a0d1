package fivenines.model.cluster;

/** A node's part in the Raft group. */
public enum NodeRole {
    /** Votes in elections and counts toward quorum. */
    VOTER,
    /** Receives the log but does not vote (Raft listener); promoted when a voter leaves. */
    MEMBER
}
