package fivenines.manager.lease;

import fivenines.model.config.LeaseSettings;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;

/**
 * A node's own view of its lease: "may I still serve my HA guests?". It counts from the moment a
 * renewal was sent, not from when its answer came, so the lease the manager reckons from the
 * renewal's apply can only end later. Before the first renewal there is no lease. Pure: the time
 * comes from the clock (a monotonic one in the agent).
 */
public final class NodeLease {
    private final InstantSource clock;
    private volatile LeaseSettings settings;
    private volatile Instant lastRenewalSent;
    private volatile String lostBecause = "no renewal yet";

    public NodeLease(InstantSource clock, LeaseSettings settings) {
        this.clock = clock;
        this.settings = settings;
    }

    public void settings(LeaseSettings newSettings) {
        this.settings = newSettings;
    }

    public LeaseSettings settings() {
        return settings;
    }

    /** A renewal sent at {@code sentAt} was applied. */
    public synchronized void renewed(Instant sentAt) {
        if (lastRenewalSent == null || sentAt.isAfter(lastRenewalSent)) {
            lastRenewalSent = sentAt;
        }
    }

    /** The store refused the renewal (the node is declared down): the lease is gone now, whatever its time. */
    public synchronized void revoked(String why) {
        lastRenewalSent = null;
        lostBecause = why;
    }

    /** Whether the node may still serve its HA guests now. */
    public boolean canServe() {
        Instant sent = lastRenewalSent;
        return sent != null && clock.instant().isBefore(sent.plus(settings.serveFor()));
    }

    /** When the node must have stopped its HA guests, or null without a lease. */
    public Instant stopBy() {
        Instant sent = lastRenewalSent;
        return sent == null ? null : sent.plus(settings.serveFor());
    }

    /** How long ago the last applied renewal was sent, or null without one. */
    public Duration age() {
        Instant sent = lastRenewalSent;
        return sent == null ? null : Duration.between(sent, clock.instant());
    }

    /** Why there is no lease (when {@link #canServe} is false). */
    public String why() {
        Instant sent = lastRenewalSent;
        if (sent == null) {
            return lostBecause;
        }
        return canServe() ? "held" : "not renewed for " + Duration.between(sent, clock.instant()).toMillis() + " ms (serves "
            + settings.serveFor().toMillis() + " ms after a renewal)";
    }
}
