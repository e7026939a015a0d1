package fivenines.manager.lease;

import fivenines.model.config.LeaseSettings;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What a replica knows of every node's lease: when it applied each node's last renewal, on its
 * own clock. A lease has certainly ended {@link LeaseSettings#certainlyEndedAfter} after that.
 * A node with no renewal applied here since this watch began is reckoned from its beginning (it
 * may have renewed just before). Pure: the caller gives the time.
 *
 * <p>For liveness it also dates each renewal by when this replica can have <em>heard</em> of it,
 * which is earlier than its apply for a renewal that was in the log when the old leader fell
 * silent: the new leader applies those only once elected, seconds after the node renewed (before,
 * a dead leader's own last renewal, applied by its successor, made it look heard at the election,
 * and its death was declared an election plus {@code cluster.dead_after_seconds} after the kill).
 * A replica that follows a leader reports {@link #following}: the entries in its log when it last
 * heard that leader came with that leader's messages, so a renewal at one of those indices was
 * heard no later. The lease's end keeps the apply time (later, so never too early).
 */
public final class LeaseWatch {
    private final Instant began;
    private final Map<String, Instant> applied = new ConcurrentHashMap<>();
    private final Map<String, Instant> heard = new ConcurrentHashMap<>();
    /** What this replica last reported while following: when it last heard its leader, and its log's end then. */
    private volatile Followed followed;

    private record Followed(Instant leaderHeardAt, long logEnd) {
    }

    public LeaseWatch(Instant began) {
        this.began = began;
    }

    /** This replica applied {@code node}'s renewal at {@code at} (its log index unknown: heard when applied). */
    public void renewalApplied(String node, Instant at) {
        renewalApplied(node, at, Long.MAX_VALUE);
    }

    /** This replica applied {@code node}'s renewal, at log index {@code index}, at {@code at}. */
    public void renewalApplied(String node, Instant at, long index) {
        applied.merge(node, at, LeaseWatch::later);
        Followed f = followed;
        Instant heardAt = f != null && index <= f.logEnd() && f.leaderHeardAt().isBefore(at) ? f.leaderHeardAt() : at;
        heard.merge(node, heardAt, LeaseWatch::later);
    }

    /**
     * This replica follows a leader: it last heard from it at {@code leaderHeardAt}, and its log
     * ends at {@code logEnd} (every entry up to there came with that leader's messages, or earlier).
     */
    public void following(Instant leaderHeardAt, long logEnd) {
        followed = new Followed(leaderHeardAt, logEnd);
    }

    /**
     * When this replica last heard of a renewal of {@code node} (applied since the watch began):
     * its apply, or, for one that was in the log when this replica last heard the leader it
     * followed, that moment. For liveness, not for the lease's end.
     */
    public java.util.Optional<Instant> renewalHeard(String node) {
        return java.util.Optional.ofNullable(heard.get(node));
    }

    private static Instant later(Instant a, Instant b) {
        return a.isAfter(b) ? a : b;
    }

    /** When this replica last applied a renewal of {@code node}, if it applied any since the watch began. */
    public java.util.Optional<Instant> renewalSeen(String node) {
        return java.util.Optional.ofNullable(applied.get(node));
    }

    /** When this replica last applied a renewal of {@code node} (or when the watch began). */
    public Instant lastApplied(String node) {
        return applied.getOrDefault(node, began);
    }

    /** When the node's lease has certainly ended, by this replica's clock. */
    public Instant certainEnd(String node, LeaseSettings settings) {
        return lastApplied(node).plus(settings.certainlyEndedAfter());
    }

    public boolean ended(String node, LeaseSettings settings, Instant now) {
        return !now.isBefore(certainEnd(node, settings));
    }

    /** How long until the lease has certainly ended (zero once it has). */
    public Duration remaining(String node, LeaseSettings settings, Instant now) {
        Duration left = Duration.between(now, certainEnd(node, settings));
        return left.isNegative() ? Duration.ZERO : left;
    }
}
