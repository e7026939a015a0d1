package fivenines.vm.migration;

import java.time.Duration;

/**
 * One poll of a running migration, from QEMU's query-migrate.
 *
 * @param status QEMU's migration status: setup, active, device, completed, failed, ...
 * @param percent RAM copied so far relative to the guest's RAM, 0..100
 * @param transferredBytes bytes sent so far
 * @param remainingBytes RAM still to send (it grows when the guest dirties pages)
 * @param totalBytes the guest's RAM
 * @param passes how many times QEMU has walked the dirty bitmap (one per MIGRATION_PASS)
 * @param elapsed time since the migration started
 */
public record MigrationProgress(String status, int percent, long transferredBytes, long remainingBytes,
                                long totalBytes, long passes, Duration elapsed) {
}
