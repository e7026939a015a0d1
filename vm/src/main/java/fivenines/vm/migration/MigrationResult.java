package fivenines.vm.migration;

import java.time.Duration;

/**
 * A completed migration, as QEMU measured it.
 *
 * @param totalTime from migrate to completion (QEMU's total-time)
 * @param downtime how long the guest was paused for the switch-over (QEMU's downtime)
 * @param setupTime QEMU's setup-time
 * @param transferredBytes bytes sent
 * @param passes dirty-bitmap passes
 */
public record MigrationResult(Duration totalTime, Duration downtime, Duration setupTime, long transferredBytes, long passes) {
}
