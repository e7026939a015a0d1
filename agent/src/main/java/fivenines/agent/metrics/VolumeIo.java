package fivenines.agent.metrics;

import java.util.concurrent.atomic.LongAdder;

/**
 * What the NBD server served of one volume on this node since its engine started here: bytes and
 * requests by kind, failed requests, and each kind's latency. Counted by {@link CountedExport},
 * read at a scrape.
 */
public final class VolumeIo {
    /** Request kinds, as the {@code op} label spells them. */
    public enum Op {
        READ, WRITE, FLUSH, TRIM, ZERO;

        String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    final LongAdder[] bytes = adders();
    final LongAdder[] requests = adders();
    final LongAdder[] errors = adders();
    final LatencyHistogram[] latency = new LatencyHistogram[Op.values().length];

    public VolumeIo() {
        for (int i = 0; i < latency.length; i++) {
            latency[i] = new LatencyHistogram();
        }
    }

    private static LongAdder[] adders() {
        var adders = new LongAdder[Op.values().length];
        for (int i = 0; i < adders.length; i++) {
            adders[i] = new LongAdder();
        }
        return adders;
    }

    /** A request that completed: its bytes (0 for a flush) and how long it took. */
    public void completed(Op op, long length, long nanos) {
        int i = op.ordinal();
        requests[i].increment();
        bytes[i].add(length);
        latency[i].record(nanos);
    }

    /** A request that failed (its latency is recorded too: a stuck leg shows in the histogram). */
    public void failed(Op op, long nanos) {
        int i = op.ordinal();
        errors[i].increment();
        latency[i].record(nanos);
    }

    public long bytes(Op op) {
        return bytes[op.ordinal()].sum();
    }

    public long requests(Op op) {
        return requests[op.ordinal()].sum();
    }

    public long errors(Op op) {
        return errors[op.ordinal()].sum();
    }
}
