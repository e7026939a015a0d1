package fivenines.vm.migration;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.vm.qemu.QemuProcess;
import fivenines.vm.qemu.VmPhase;
import fivenines.vm.qmp.QmpClient;
import fivenines.vm.qmp.QmpCommandException;
import fivenines.vm.qmp.QmpConnectionException;
import fivenines.vm.qmp.QmpException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives a live migration over QMP from a running source QEMU to a destination started with
 * {@code -incoming} (a listening address, or {@code defer}). It works on bare QMP clients, so
 * a benchmark can use it on any pair of QEMUs; {@link #migrate(QemuProcess, QemuProcess, String,
 * MigrationOptions, Consumer)} adds the agent's ending: the destination runs, the source is gone.
 */
public final class LiveMigration {
    private static final Logger log = LoggerFactory.getLogger(LiveMigration.class);
    private static final Set<String> FINISHED = Set.of("completed", "failed", "cancelled");

    private LiveMigration() {
    }

    /**
     * Migrates, then waits for the destination to run the guest and stops the source.
     * On failure the source is left running and the destination is left as it is (the caller
     * stops it).
     */
    public static MigrationResult migrate(QemuProcess source, QemuProcess destination, String uri,
                                          MigrationOptions options, Consumer<MigrationProgress> progress)
            throws MigrationFailedException, InterruptedException {
        MigrationResult result = migrate(source.qmp(), destination.qmp(), uri, options, progress);
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        VmPhase phase;
        while ((phase = destination.status().phase()) != VmPhase.RUNNING) {
            if (System.nanoTime() > deadline || phase == VmPhase.GONE) {
                // the source has handed over and is stopped in postmigrate: left for the caller to decide
                throw new MigrationFailedException(source.name(), "completed, but the destination is " + phase
                        + " instead of running", "postmigrate", null);
            }
            Thread.sleep(20);
        }
        source.stop(Duration.ofSeconds(10));
        return result;
    }

    /**
     * Migrates from {@code source} to the QEMU listening at {@code uri} ({@code tcp:host:port}).
     * {@code destination} may be null when it cannot be reached over QMP; when given, its
     * migration events are switched on and, if it was started with {@code -incoming defer}, it
     * is told to listen on {@code uri}.
     */
    public static MigrationResult migrate(QmpClient source, QmpClient destination, String uri,
                                          MigrationOptions options, Consumer<MigrationProgress> progress)
            throws MigrationFailedException, InterruptedException {
        return migrate(source, destination, uri, options, progress, QmpClient.DEFAULT_TIMEOUT);
    }

    /**
     * As above, waiting {@code startAnswer} for QEMU's answer to {@code migrate}. No answer in that
     * time does not mean it did not start: on a loaded machine QEMU's main loop may answer late, and
     * the migration may be under way already. So the source is asked (query-migrate); a migration it
     * reports started is followed as if the answer had come, and only one it does not know of fails.
     */
    static MigrationResult migrate(QmpClient source, QmpClient destination, String uri, MigrationOptions options,
                                   Consumer<MigrationProgress> progress, Duration startAnswer)
            throws MigrationFailedException, InterruptedException {
        String vm = source.vmName();
        long started = System.nanoTime();
        try {
            prepare(source, destination, uri, options);
            try {
                source.execute("migrate", Map.of("uri", uri), startAnswer);
            } catch (QmpConnectionException late) {
                String status = source.execute("query-migrate").path("status").asText("none");
                if (status.equals("none")) {
                    throw late;
                }
                log.warn("VM {}: QEMU answered 'migrate' late ({}), but the migration is under way ({}): followed",
                    vm, late.getMessage(), status);
            }
        } catch (QmpException refused) {
            throw new MigrationFailedException(vm, "could not start: " + refused.getMessage(), sourceStatus(source), refused);
        }
        long deadline = started + options.timeout().toNanos();
        // QEMU announces each change of state (MIGRATION events): the loop wakes on those and polls
        // for progress in between, so completion is seen at once rather than up to a poll late
        var changed = new java.util.concurrent.Semaphore(0);
        java.util.function.Consumer<fivenines.vm.qmp.QmpEvent> onEvent = event -> {
            if (event.name().equals("MIGRATION")) {
                changed.release();
            }
        };
        source.addEventListener(onEvent);
        try {
            return await(source, destination, options, progress, vm, started, deadline, changed);
        } finally {
            source.removeEventListener(onEvent);
        }
    }

    private static MigrationResult await(QmpClient source, QmpClient destination, MigrationOptions options,
                                         Consumer<MigrationProgress> progress, String vm, long started, long deadline,
                                         java.util.concurrent.Semaphore changed)
            throws MigrationFailedException, InterruptedException {
        while (true) {
            changed.drainPermits();
            JsonNode info;
            try {
                info = source.execute("query-migrate");
            } catch (QmpException lost) {
                throw cancel(source, "lost the source's QMP connection: " + lost.getMessage(), lost);
            }
            String status = info.path("status").asText("none");
            progress.accept(progressOf(info, status, Duration.ofNanos(System.nanoTime() - started)));
            switch (status) {
                case "completed" -> {
                    Duration measured = Duration.ofNanos(System.nanoTime() - started);
                    // QEMU 7.2 reports "completed" a moment before it fills in total-time and downtime
                    for (int i = 0; i < 10 && info.path("total-time").asLong() == 0; i++) {
                        Thread.sleep(5);
                        try {
                            info = source.execute("query-migrate");
                        } catch (QmpException lost) {
                            break;
                        }
                    }
                    return resultOf(info, measured);
                }
                case "failed", "cancelled" -> throw new MigrationFailedException(vm,
                        status + ": " + info.path("error-desc").asText("no reason given"), resumeIfPaused(source), null);
                default -> {
                    if (System.nanoTime() > deadline) {
                        throw cancel(source, "not finished within " + options.timeout(), null);
                    }
                    if (destination != null && !destination.isOpen()) {
                        throw cancel(source, "the destination's QMP connection closed (destination gone?)", null);
                    }
                }
            }
            changed.tryAcquire(options.pollInterval().toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
        }
    }

    private static void prepare(QmpClient source, QmpClient destination, String uri, MigrationOptions options)
            throws QmpException, InterruptedException {
        source.execute("migrate-set-capabilities", Map.of("capabilities", List.of(
                Map.of("capability", "events", "state", true),
                Map.of("capability", "auto-converge", "state", options.autoConverge()))));
        source.execute("migrate-set-parameters", Map.of(
                "max-bandwidth", options.maxBandwidthBytesPerSecond(),
                "downtime-limit", options.downtimeLimit().toMillis()));
        if (destination == null) {
            return;
        }
        destination.execute("migrate-set-capabilities", Map.of("capabilities", List.of(
                Map.of("capability", "events", "state", true))));
        try {
            destination.execute("migrate-incoming", Map.of("uri", uri));
        } catch (QmpCommandException alreadyListening) {
            // started with -incoming tcp:...: it listens already, which is what we want
            log.debug("VM {}: destination already listening: {}", destination.vmName(), alreadyListening.description());
        }
    }

    /** Cancels, waits for QEMU to settle, and makes sure the source runs the guest again. */
    private static MigrationFailedException cancel(QmpClient source, String why, Throwable cause)
            throws InterruptedException {
        try {
            source.execute("migrate_cancel");
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (System.nanoTime() < deadline
                    && !FINISHED.contains(source.execute("query-migrate").path("status").asText("none"))) {
                Thread.sleep(50);
            }
        } catch (QmpException cancelFailed) {
            log.warn("VM {}: migrate_cancel failed: {}", source.vmName(), cancelFailed.getMessage());
        }
        return new MigrationFailedException(source.vmName(), why + "; cancelled", resumeIfPaused(source), cause);
    }

    /**
     * After a failed or cancelled migration QEMU resumes a source that was running; one that
     * failed during the switch-over may be left paused in postmigrate, so it is resumed here.
     */
    private static String resumeIfPaused(QmpClient source) throws InterruptedException {
        String status = sourceStatus(source);
        if (status.equals("postmigrate") || status.equals("finish-migrate")) {
            try {
                source.execute("cont");
                status = sourceStatus(source);
            } catch (QmpException refused) {
                log.warn("VM {}: cannot resume the source after a failed migration: {}", source.vmName(), refused.getMessage());
            }
        }
        return status;
    }

    private static String sourceStatus(QmpClient source) throws InterruptedException {
        try {
            return source.execute("query-status").path("status").asText("unknown");
        } catch (QmpException unreachable) {
            return "unreachable";
        }
    }

    private static MigrationProgress progressOf(JsonNode info, String status, Duration elapsed) {
        JsonNode ram = info.path("ram");
        long total = ram.path("total").asLong();
        long remaining = ram.path("remaining").asLong();
        int percent = status.equals("completed") ? 100
                : total == 0 ? 0 : (int) Math.max(0, Math.min(100, (total - remaining) * 100 / total));
        return new MigrationProgress(status, percent, ram.path("transferred").asLong(), remaining, total,
                ram.path("dirty-sync-count").asLong(), elapsed);
    }

    /** QEMU's own figures; when its answer lacks the total time (it sometimes does), the time measured here. */
    private static MigrationResult resultOf(JsonNode info, Duration measured) {
        long total = info.path("total-time").asLong();
        return new MigrationResult(total > 0 ? Duration.ofMillis(total) : measured,
                Duration.ofMillis(info.path("downtime").asLong()),
                Duration.ofMillis(info.path("setup-time").asLong()),
                info.path("ram").path("transferred").asLong(),
                info.path("ram").path("dirty-sync-count").asLong());
    }
}
