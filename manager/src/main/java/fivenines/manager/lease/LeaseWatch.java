package fivenines.manager.lease;

import fivenines.model.config.LeaseSettings;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What a replica knows of every node's lease: when it first knew of each node's last renewal, on
 * its own clock. A lease has certainly ended {@link LeaseSettings#certainlyEndedAfter} after that;
 * liveness counts a node's silence from it. A node with no renewal known here since this watch
 * began is reckoned from its beginning (it may have renewed just before). Pure: the caller gives
 * the time.
 *
 * <p>When this replica knew of a renewal: when it applied it, or earlier, when it had the entry in
 * its log while following a leader. A new leader applies the entries of its predecessor's term
 * only once elected, seconds after they were written: counted from that apply, the death of a
 * leader was declared an election plus {@code cluster.dead_after_seconds} after the kill, and its
 * lease ended an election late. So a replica that follows a leader reports {@link #following}:
 * in a term {@code T} it read before and after, when it last heard the leader and how far its log
 * reached. An entry applied later at one of those indices, of term {@code T} or older, was known
 * here by then.
 *
 * <p>Why, and why the lease's end may count from there. The node sent the renewal before any
 * replica had it, so knowing of it comes after the sending, as applying does; the node serves only
 * {@code length - stopAhead} after the sending, on its clock, and the margin covers the two rates.
 * An entry of term {@code T} comes only from the one leader of {@code T}, which never overwrites
 * its own entries: the one applied is the one that was in the log. One of an older term may be
 * put at that index later, by that leader overwriting a conflicting tail, but it was written
 * before that leader's election, and this replica heard that leader after its election. An entry
 * of a later term may be written after the report, so it is known only from its apply.
 */
public final class LeaseWatch {
    private final Instant began;
    private final Map<String, Instant> known = new ConcurrentHashMap<>();
    /** What this replica last reported of following a leader, or null. */
    private volatile Followed followed;

    private record Followed(long term, Instant leaderHeardAt, long logEnd) {
    }

    public LeaseWatch(Instant began) {
        this.began = began;
    }

    /** This replica applied {@code node}'s renewal at {@code at}, its log position unknown: known from the apply. */
    public void renewalApplied(String node, Instant at) {
        renewalApplied(node, at, Long.MAX_VALUE, Long.MAX_VALUE);
    }

    /** This replica applied {@code node}'s renewal, the log entry {@code index} of term {@code term}, at {@code at}. */
    public void renewalApplied(String node, Instant at, long index, long term) {
        Instant knownAt = at;
        Followed f = followed;
        if (f != null && index <= f.logEnd() && term <= f.term() && f.leaderHeardAt().isBefore(at)) {
            knownAt = f.leaderHeardAt();
        }
        known.merge(node, knownAt, (a, b) -> a.isAfter(b) ? a : b);
    }

    /**
     * This replica follows a leader: in term {@code term} (read before {@code logEnd} and again
     * after {@code leaderHeardAt}; the caller reports nothing if it changed in between), its log
     * ended at {@code logEnd}, and it last heard the leader at {@code leaderHeardAt}.
     */
    public void following(long term, long logEnd, Instant leaderHeardAt) {
        followed = new Followed(term, leaderHeardAt, logEnd);
    }

    /** When this replica first knew of {@code node}'s last renewal, if it knew of any since the watch began. */
    public Optional<Instant> renewalKnown(String node) {
        return Optional.ofNullable(known.get(node));
    }

    /** When this replica first knew of {@code node}'s last renewal (or when the watch began). */
    public Instant lastKnown(String node) {
        return known.getOrDefault(node, began);
    }

    /** When the node's lease has certainly ended, by this replica's clock. */
    public Instant certainEnd(String node, LeaseSettings settings) {
        return lastKnown(node).plus(settings.certainlyEndedAfter());
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
