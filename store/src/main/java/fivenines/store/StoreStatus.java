package fivenines.store;

import java.util.List;

/**
 * What this replica knows of the Raft group.
 *
 * @param leader       the current leader's node name, or null during an election
 * @param term         the current term
 * @param appliedIndex the last log index applied here
 * @param role         LEADER, FOLLOWER, CANDIDATE or LISTENER
 * @param voters       node names of the voting peers
 * @param listeners    node names of non-voting members
 * @param peers        per peer, as seen by the leader (empty on other replicas)
 */
public record StoreStatus(String leader, long term, long appliedIndex, String role,
                          List<String> voters, List<String> listeners, List<PeerProgress> peers) {

    /** A follower as the leader sees it. */
    public record PeerProgress(String name, long matchIndex, long lastContactMillis) {
    }
}
