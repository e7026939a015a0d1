package fivenines.agent.vm;

import fivenines.vm.migration.MigrationProgress;
import fivenines.vm.migration.MigrationResult;

import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/** Where a live migration started here stands, step by step, for 'vm migrate' and its status. */
final class OutgoingMigration {
    final String vm;
    final String destination;
    final Instant started = Instant.now();
    volatile String state = "preparing";
    volatile MigrationProgress progress;
    volatile MigrationResult result;
    volatile String error;
    volatile Duration total;
    volatile Duration switchover;
    volatile Duration qemuStarted;
    final Map<String, Long> steps = new java.util.concurrent.ConcurrentSkipListMap<>();
    private long mark = System.nanoTime();
    private int step;
    private int detail;

    /** Records how long the step just finished took. */
    void step(String what) {
        long now = System.nanoTime();
        steps.put(++step + "-" + what, (now - mark) / 1_000_000);
        mark = now;
        detail = 0;
    }

    /** Records a part of the last step (measured elsewhere, such as on the destination). */
    void detail(String what, long millis) {
        steps.put(step + "." + ++detail + "-" + what, millis);
    }

    OutgoingMigration(String vm, String destination) {
        this.vm = vm;
        this.destination = destination;
    }

    public Map<String, Object> describe() {
        var map = new LinkedHashMap<String, Object>();
        map.put("vm", vm);
        map.put("destination", destination);
        map.put("state", state);
        map.put("startedAt", started.toString());
        if (progress != null) {
            map.put("percent", progress.percent());
            map.put("transferredBytes", progress.transferredBytes());
            map.put("remainingBytes", progress.remainingBytes());
            map.put("totalBytes", progress.totalBytes());
            map.put("passes", progress.passes());
        }
        map.put("elapsedMillis", Duration.between(started, Instant.now()).toMillis());
        if (result != null) {
            map.put("qemuTotalMillis", result.totalTime().toMillis());
            map.put("qemuDowntimeMillis", result.downtime().toMillis());
        }
        if (qemuStarted != null) {
            map.put("destinationReadyMillis", qemuStarted.toMillis());
        }
        if (switchover != null) {
            map.put("switchoverMillis", switchover.toMillis());
        }
        if (total != null) {
            map.put("totalMillis", total.toMillis());
            if (result != null) {
                map.put("overheadMillis", total.toMillis() - result.totalTime().toMillis());
            }
        }
        map.put("stepMillis", Map.copyOf(steps));
        map.put("error", error);
        return map;
    }
}
