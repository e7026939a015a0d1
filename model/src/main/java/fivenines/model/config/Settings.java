package fivenines.model.config;

import fivenines.model.state.Rejection;

import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The configuration keys the cluster itself reads, checked when they are set: a value the agents
 * could not use is refused with what would be accepted, and nothing changes (before, a
 * {@code cluster.dead_after_seconds} of "soon" was stored and the leader's liveness then failed at
 * every tick). Keys not named here are the operator's and are stored as they are.
 */
public final class Settings {
    /** The keys whose values together make the lease (checked together when any of them changes). */
    static final Set<String> LEASE_KEYS = Set.of("cluster.dead_after_seconds", "ha.lease_millis", "ha.renew_millis",
        "ha.stop_ahead_millis", "ha.clock_rate_margin");

    private Settings() {
    }

    /**
     * Checks a change of the configuration.
     *
     * @param changed the keys the change sets or unsets
     * @param after   every key and value as they would be after the change
     * @throws Rejection (invalid) naming the key, the value and what is accepted
     */
    public static void check(Set<String> changed, Map<String, String> after) {
        for (String key : changed) {
            String value = after.get(key);
            if (value == null) {
                continue;
            }
            switch (key) {
                case "cluster.dead_after_seconds" -> number(key, value, 1, 3600, "seconds");
                case "ha.lease_millis", "ha.renew_millis", "ha.stop_ahead_millis" -> whole(key, value, 0, 3_600_000, "ms");
                case "ha.clock_rate_margin" -> number(key, value, 0, 1, "(a fraction)");
                case "ha.max_relocate" -> whole(key, value, 0, 1_000_000, "relocations");
                case "aoe.timeout_ms" -> whole(key, value, 500, 3_600_000, "ms");
                case "volume.leg_timeout_ms" -> whole(key, value, 50, 3_600_000, "ms");
                case "volume.resync_mib_per_s" -> whole(key, value, 0, 1_000_000, "MiB/s (0: unthrottled)");
                case "cluster.token_grace_seconds" -> whole(key, value, 0, 3600, "seconds");
                default -> {
                }
            }
        }
        if (changed.stream().anyMatch(LEASE_KEYS::contains)) {
            try {
                LeaseSettings.from(k -> Optional.ofNullable(after.get(k)));
            } catch (IllegalArgumentException wrong) {
                throw Rejection.invalid(wrong.getMessage());
            }
        }
    }

    /** {@code cluster.dead_after_seconds}, or its default; an IllegalArgumentException says what is wrong with it. */
    public static java.time.Duration deadAfter(java.util.function.Function<String, Optional<String>> config) {
        return config.apply("cluster.dead_after_seconds")
            .map(v -> java.time.Duration.ofMillis(Math.round(LeaseSettings.parse("cluster.dead_after_seconds", v) * 1000)))
            .orElse(LeaseSettings.DEFAULT_DEAD_AFTER);
    }

    private static void number(String key, String value, double min, double max, String unit) {
        double v = parse(key, value);
        if (!(v >= min && v <= max)) {
            throw Rejection.invalid(key + " is " + value.trim() + "; it must be " + plain(min) + " to " + plain(max) + " " + unit);
        }
    }

    private static void whole(String key, String value, long min, long max, String unit) {
        long v;
        try {
            v = Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw Rejection.invalid(key + " is '" + value + "', not a whole number; it must be " + min + " to " + max + " " + unit);
        }
        if (v < min || v > max) {
            throw Rejection.invalid(key + " is " + v + "; it must be " + min + " to " + max + " " + unit);
        }
    }

    private static double parse(String key, String value) {
        try {
            return LeaseSettings.parse(key, value);
        } catch (IllegalArgumentException wrong) {
            throw Rejection.invalid(wrong.getMessage());
        }
    }

    private static String plain(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }
}
