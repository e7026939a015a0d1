package fivenines.store;

import java.util.List;

/**
 * What this replica knows of the Raft group.
 *
 * @param self          this replica's node name
 * @param leader        the current leader's node name, or null during an election
 * @param term          the current term
 * @param appliedIndex  the last log index applied here
 * @param commitIndex   the last log index this replica knows to be committed
 * @param role          LEADER, FOLLOWER, CANDIDATE or LISTENER
 * @param voters        node names of the voting peers
 * @param listeners     node names of non-voting members
 * @param peers         per peer, as seen by the leader (empty on other replicas)
 * @param leaderContactMillis on a follower, how long ago it last heard the leader; -1 when it hears none
 */
public record StoreStatus(String self, String leader, long term, long appliedIndex, long commitIndex, String role,
                          List<String> voters, List<String> listeners, List<PeerProgress> peers,
                          long leaderContactMillis) {

    /** A follower as the leader sees it. */
    public record PeerProgress(String name, long matchIndex, long lastContactMillis) {
    }

    public Quorum quorum() {
        return Quorum.assess(this);
    }
}
