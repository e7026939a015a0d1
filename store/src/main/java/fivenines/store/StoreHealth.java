package fivenines.store;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;

/**
 * Whether this replica's store can commit, as its own requests and its view of the group
 * tell: degraded when no leader is known for {@link #NO_LEADER_GRACE}, when the leader it
 * is cannot reach a majority, or when the last command or read failed and none succeeded
 * since. Pure apart from the clock it is given.
 */
public final class StoreHealth {
    /** An election takes 1-2 s; longer without a leader means a majority is unreachable. */
    static final Duration NO_LEADER_GRACE = Duration.ofSeconds(5);

    private final InstantSource clock;
    private Instant lastSuccess;
    private Instant lastFailure;
    private String lastFailureMessage;
    private Instant leaderMissingSince;

    StoreHealth(InstantSource clock) {
        this.clock = clock;
    }

    /** The verdict. */
    public record Verdict(boolean ok, String summary) {
    }

    synchronized void succeeded() {
        lastSuccess = clock.instant();
    }

    synchronized void failed(String message) {
        lastFailure = clock.instant();
        lastFailureMessage = message;
    }

    /** Whether a failure came after the last success: the store may still be unable to commit. */
    synchronized boolean failing() {
        return lastFailure != null && (lastSuccess == null || lastFailure.isAfter(lastSuccess));
    }

    synchronized Verdict assess(StoreStatus status) {
        Instant now = clock.instant();
        if (status.leader() == null) {
            if (leaderMissingSince == null) {
                leaderMissingSince = now;
            }
        } else {
            leaderMissingSince = null;
        }
        if (leaderMissingSince != null && !now.isBefore(leaderMissingSince.plus(NO_LEADER_GRACE))) {
            return new Verdict(false, "no leader for " + Duration.between(leaderMissingSince, now).toSeconds()
                + " s (term " + status.term() + "): a majority of voters may be unreachable; see 'nines cluster status'");
        }
        Quorum quorum = status.quorum();
        if ("leader".equals(quorum.seenFrom()) && !quorum.ok()) {
            return new Verdict(false, "this node leads but cannot commit: " + quorum.up() + " of " + quorum.voters()
                + " voters up, " + quorum.needed() + " needed; " + quorum.reason());
        }
        if (failing()) {
            return new Verdict(false, "the last store request failed " + Duration.between(lastFailure, now).toSeconds()
                + " s ago and none succeeded since: " + lastFailureMessage);
        }
        if (status.leader() == null) {
            return new Verdict(true, "electing a leader (term " + status.term() + ")");
        }
        return new Verdict(true, "leader " + status.leader() + ", applied index " + status.appliedIndex());
    }
}
