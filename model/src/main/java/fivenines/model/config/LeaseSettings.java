package fivenines.model.config;

import java.time.Duration;
import java.util.Optional;
import java.util.function.Function;

/**
 * How long a node's lease lasts and how it is kept. A node renews every {@code renewEvery}; it
 * serves its HA guests until {@code length - stopAhead} after it sent the last renewal that was
 * applied, then kills them, so they are gone before the lease ends. The manager recovers them only
 * once {@code length × (1 + clockRateMargin)} has passed on its own clock since its replica applied
 * that renewal: applying comes after sending, and the margin covers the two clocks running at
 * different rates.
 *
 * @param length          the lease ({@code ha.lease_millis}; by default it ends with {@code cluster.dead_after_seconds},
 *                        at least 3500)
 * @param renewEvery      how often a node renews ({@code ha.renew_millis}, default 500)
 * @param stopAhead       how long before its lease ends a node that could not renew kills its HA guests
 *                        ({@code ha.stop_ahead_millis}, default 1000)
 * @param clockRateMargin how much faster the manager's clock may run than the node's, both ways together
 *                        ({@code ha.clock_rate_margin}, default 0.1)
 */
public record LeaseSettings(Duration length, Duration renewEvery, Duration stopAhead, double clockRateMargin) {
    /**
     * A node serves 2.5 s after sending its last applied renewal and renews every 0.5 s, so a blip
     * of up to about 2 s passes (the 1.5 s with room); the lease has certainly ended 3.85 s
     * after the manager applied that renewal.
     */
    public static final LeaseSettings DEFAULTS = new LeaseSettings(Duration.ofMillis(3500), Duration.ofMillis(500),
        Duration.ofMillis(1000), 0.1);

    public LeaseSettings {
        if (length.isNegative() || length.isZero()) {
            throw new IllegalArgumentException("ha.lease_millis must be positive, not " + length.toMillis());
        }
        if (renewEvery.isNegative() || renewEvery.isZero()) {
            throw new IllegalArgumentException("ha.renew_millis must be positive, not " + renewEvery.toMillis());
        }
        if (stopAhead.isNegative() || stopAhead.compareTo(length) >= 0) {
            throw new IllegalArgumentException("ha.stop_ahead_millis (" + stopAhead.toMillis() + ") must be at least 0 and"
                + " below ha.lease_millis (" + length.toMillis() + ")");
        }
        if (renewEvery.compareTo(length.minus(stopAhead)) >= 0) {
            throw new IllegalArgumentException("ha.renew_millis (" + renewEvery.toMillis() + ") must be below"
                + " ha.lease_millis less ha.stop_ahead_millis (" + length.minus(stopAhead).toMillis()
                + "), or a node would stop its guests between two renewals");
        }
        if (!(clockRateMargin >= 0 && clockRateMargin <= 1)) {
            throw new IllegalArgumentException("ha.clock_rate_margin must be 0 to 1, not " + clockRateMargin);
        }
    }

    /** The settings from the cluster's configuration (the defaults where a key is not set). */
    public static LeaseSettings from(Function<String, Optional<String>> config) {
        double margin = config.apply("ha.clock_rate_margin").map(v -> parse("ha.clock_rate_margin", v)).orElse(DEFAULTS.clockRateMargin);
        return new LeaseSettings(millis(config, "ha.lease_millis", defaultLength(config, margin)),
            millis(config, "ha.renew_millis", DEFAULTS.renewEvery), millis(config, "ha.stop_ahead_millis", DEFAULTS.stopAhead),
            margin);
    }

    /** The silence after which the leader declares a node down when {@code cluster.dead_after_seconds} is not set. */
    public static final Duration DEFAULT_DEAD_AFTER = Duration.ofSeconds(3);

    /**
     * The lease when {@code ha.lease_millis} is not set: it certainly ends when the node is declared
     * down ({@code cluster.dead_after_seconds}), so recovery waits for neither longer than the other,
     * and a node serves as long as it may be silent without being declared down (less
     * {@code stop_ahead}); at least {@link #DEFAULTS}' 3.5 s, so a 1.5 s blip passes.
     */
    static Duration defaultLength(Function<String, Optional<String>> config, double margin) {
        Duration deadAfter = Settings.deadAfter(config);
        Duration aligned = Duration.ofMillis((long) (deadAfter.toMillis() / (1 + margin)));
        return aligned.compareTo(DEFAULTS.length) > 0 ? aligned : DEFAULTS.length;
    }

    private static Duration millis(Function<String, Optional<String>> config, String key, Duration fallback) {
        return config.apply(key).map(v -> Duration.ofMillis((long) parse(key, v))).orElse(fallback);
    }

    static double parse(String key, String value) {
        try {
            double v = Double.parseDouble(value.trim());
            if (Double.isNaN(v) || Double.isInfinite(v)) {
                throw new NumberFormatException(value);
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " is '" + value + "', not a number; set it with 'nines config set " + key
                + " N'");
        }
    }

    /** How long the node serves its HA guests after sending a renewal that was applied. */
    public Duration serveFor() {
        return length.minus(stopAhead);
    }

    /** How long the manager waits, on its clock, after applying a node's last renewal before the lease has certainly ended. */
    public Duration certainlyEndedAfter() {
        return Duration.ofNanos((long) (length.toNanos() * (1 + clockRateMargin)));
    }
}
