package fivenines.manager.lease;

import java.time.Instant;
import java.time.InstantSource;

/**
 * Instants from {@link System#nanoTime}: they never jump when the wall clock is set, so a lease
 * is neither cut short nor stretched by NTP or an operator. Only differences between them mean
 * anything.
 */
public final class MonotonicClock implements InstantSource {
    private final long origin = System.nanoTime();

    @Override
    public Instant instant() {
        return Instant.EPOCH.plusNanos(System.nanoTime() - origin);
    }
}
