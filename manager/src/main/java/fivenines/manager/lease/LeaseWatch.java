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
 */
public final class LeaseWatch {
    private final Instant began;
    private final Map<String, Instant> applied = new ConcurrentHashMap<>();

    public LeaseWatch(Instant began) {
        this.began = began;
    }

    /** This replica applied {@code node}'s renewal at {@code at}. */
    public void renewalApplied(String node, Instant at) {
        applied.merge(node, at, (a, b) -> a.isAfter(b) ? a : b);
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
