package fivenines.vm.migration;

import java.time.Duration;

/**
 * How a live migration runs.
 *
 * @param timeout the whole migration, after which it is cancelled and the source keeps running
 * @param maxBandwidthBytesPerSecond QEMU's max-bandwidth; its own default (128 MiB/s) slows local moves
 * @param downtimeLimit how long the guest may be paused for the final copy
 * @param pollInterval how often progress is polled and reported
 * @param autoConverge whether QEMU throttles a guest that dirties memory faster than it is copied
 */
public record MigrationOptions(Duration timeout, long maxBandwidthBytesPerSecond, Duration downtimeLimit,
                               Duration pollInterval, boolean autoConverge) {
    public MigrationOptions {
        if (timeout.isNegative() || timeout.isZero() || pollInterval.isNegative() || pollInterval.isZero()) {
            throw new IllegalArgumentException("migration timeout and poll interval must be positive");
        }
        if (maxBandwidthBytesPerSecond <= 0 || downtimeLimit.isNegative()) {
            throw new IllegalArgumentException("migration bandwidth must be positive and downtime not negative");
        }
    }

    public static MigrationOptions defaults() {
        return new MigrationOptions(Duration.ofMinutes(5), 1L << 30, Duration.ofMillis(300), Duration.ofMillis(100), true);
    }

    public MigrationOptions withTimeout(Duration newTimeout) {
        return new MigrationOptions(newTimeout, maxBandwidthBytesPerSecond, downtimeLimit, pollInterval, autoConverge);
    }

    public MigrationOptions withMaxBandwidth(long bytesPerSecond) {
        return new MigrationOptions(timeout, bytesPerSecond, downtimeLimit, pollInterval, autoConverge);
    }
}
