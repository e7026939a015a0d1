package fivenines.store;

import java.util.ArrayList;
import java.util.List;

/**
 * Whether the store's voters can commit, decided from what the leader hears: a voter counts
 * as up only when the leader heard it lately and it has caught up with the log. A voter that
 * was added but never received the log (match index -1), or one still loading a snapshot,
 * cannot acknowledge new entries, so it does not count even though the state says UP.
 *
 * <p>Only the leader sees every voter. A follower can tell only whether it hears a leader;
 * its verdict says so ({@link #seenFrom()} is "follower") and carries no count of voters up.
 *
 * @param seenFrom "leader", "follower" or "candidate": whose view this is
 * @param voters   how many voters the group has
 * @param up       voters the leader heard lately that have caught up (-1 when not seen from the leader)
 * @param needed   the majority of {@code voters}
 * @param ok       whether a commit can succeed now, as far as this replica can tell
 * @param reason   one line that explains {@code ok}
 * @param detail   per voter, as seen from the leader (empty elsewhere)
 */
public record Quorum(String seenFrom, int voters, int up, int needed, boolean ok, String reason, List<Voter> detail) {

    /** The leader heard a peer within this: a few heartbeats (about every 0.5 s) on a busy machine. */
    public static final long HEARD_WITHIN_MILLIS = 3_000;
    /** A voter whose match index is within this many entries of the commit index has caught up. */
    public static final long CAUGHT_UP_WITHIN = 100;

    /** One voter as the leader sees it. */
    public record Voter(String name, boolean heard, boolean caughtUp, long matchIndex, long lastContactMillis) {
        public boolean up() {
            return heard && caughtUp;
        }
    }

    static Quorum assess(StoreStatus status) {
        int voters = status.voters().size();
        int needed = voters / 2 + 1;
        if ("LEADER".equals(status.role())) {
            return fromLeader(status, voters, needed);
        }
        if (status.leader() == null) {
            return new Quorum("candidate", voters, -1, needed, false,
                "no leader: an election is under way or a majority of voters is unreachable", List.of());
        }
        String role = "LISTENER".equals(status.role()) ? "follower" : status.role().toLowerCase();
        long heardAgo = status.leaderContactMillis();
        if (heardAgo < 0 || heardAgo > HEARD_WITHIN_MILLIS) {
            return new Quorum(role, voters, -1, needed, false, "leader " + status.leader() + " not heard "
                + (heardAgo < 0 ? "yet" : "for " + heardAgo + " ms"), List.of());
        }
        return new Quorum(role, voters, -1, needed, true, "leader " + status.leader() + " heard " + heardAgo
            + " ms ago; only it sees every voter ('nines cluster status' on " + status.leader() + ")", List.of());
    }

    private static Quorum fromLeader(StoreStatus status, int voters, int needed) {
        var detail = new ArrayList<Voter>();
        var down = new ArrayList<String>();
        for (String name : status.voters()) {
            Voter voter;
            if (name.equals(status.self())) {
                voter = new Voter(name, true, true, status.commitIndex(), 0);
            } else {
                var progress = status.peers().stream().filter(p -> p.name().equals(name)).findFirst();
                long match = progress.map(StoreStatus.PeerProgress::matchIndex).orElse(-1L);
                long contact = progress.map(StoreStatus.PeerProgress::lastContactMillis).orElse(-1L);
                boolean heard = contact >= 0 && contact <= HEARD_WITHIN_MILLIS;
                boolean caughtUp = match >= 0 && status.commitIndex() - match <= CAUGHT_UP_WITHIN;
                voter = new Voter(name, heard, caughtUp, match, contact);
            }
            detail.add(voter);
            if (!voter.up()) {
                down.add(voter.name() + (voter.heard() ? " (behind: match " + voter.matchIndex() + " of "
                    + status.commitIndex() + ")" : " (not heard" + (voter.lastContactMillis() >= 0
                    ? " for " + voter.lastContactMillis() + " ms" : "") + ")"));
            }
        }
        int up = (int) detail.stream().filter(Voter::up).count();
        boolean ok = up >= needed;
        String reason = (ok ? "a majority is up" : "too few voters up to commit")
            + (down.isEmpty() ? "" : "; not up: " + String.join(", ", down));
        return new Quorum("leader", voters, up, needed, ok, reason, List.copyOf(detail));
    }
}
