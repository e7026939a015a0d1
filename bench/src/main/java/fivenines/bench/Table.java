package fivenines.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The side-by-side table a benchmark prints: one row per measure, fivenines and a peer, and
 * their ratio. The ratio is always "how many times better fivenines is", so above 1 means
 * fivenines wins whichever way the measure points. A missing figure (NaN) prints as "-".
 */
public final class Table {
    /** Which way a measure is better. */
    public enum Better {
        /** Latencies: the ratio is peer / fivenines. */
        LOWER,
        /** Throughputs: the ratio is fivenines / peer. */
        HIGHER
    }

    private record Row(String measure, double fivenines, double peer, Better better) {
        double ratio() {
            return better == Better.LOWER ? peer / fivenines : fivenines / peer;
        }
    }

    private final String peerName;
    private final List<Row> rows = new ArrayList<>();

    /** A table comparing fivenines with the named peer, such as "zookeeper". */
    public Table(String peerName) {
        this.peerName = peerName;
    }

    public Table row(String measure, double fivenines, double peer, Better better) {
        rows.add(new Row(measure, fivenines, peer, better));
        return this;
    }

    /** The rows for the two shapes of the store benchmark. */
    public Table storeRows(StoreResult fivenines, StoreResult peer) {
        LatencySummary ours = fivenines == null ? null : fivenines.commitLatency();
        LatencySummary theirs = peer == null ? null : peer.commitLatency();
        row("commit latency p50 (ms)", ours == null ? Double.NaN : ours.p50Millis(),
            theirs == null ? Double.NaN : theirs.p50Millis(), Better.LOWER);
        row("commit latency p99 (ms)", ours == null ? Double.NaN : ours.p99Millis(),
            theirs == null ? Double.NaN : theirs.p99Millis(), Better.LOWER);
        row("commit latency mean (ms)", ours == null ? Double.NaN : ours.meanMillis(),
            theirs == null ? Double.NaN : theirs.meanMillis(), Better.LOWER);
        row("lock acquire+release (pairs/s)", fivenines == null ? Double.NaN : fivenines.lockPairsPerSecond(),
            peer == null ? Double.NaN : peer.lockPairsPerSecond(), Better.HIGHER);
        StoreResult.MixedResult ourMix = fivenines == null ? null : fivenines.mixed();
        StoreResult.MixedResult theirMix = peer == null ? null : peer.mixed();
        if (ourMix != null || theirMix != null) {
            row("mixed set/get ops/s", ourMix == null ? Double.NaN : ourMix.operationsPerSecond(),
                theirMix == null ? Double.NaN : theirMix.operationsPerSecond(), Better.HIGHER);
            row("mixed set/get p50 (ms)", ourMix == null ? Double.NaN : ourMix.latency().p50Millis(),
                theirMix == null ? Double.NaN : theirMix.latency().p50Millis(), Better.LOWER);
            row("mixed set/get p99 (ms)", ourMix == null ? Double.NaN : ourMix.latency().p99Millis(),
                theirMix == null ? Double.NaN : theirMix.latency().p99Millis(), Better.LOWER);
        }
        return this;
    }

    /** The table as aligned text, a header line first, with a closing line that says how to read the ratio. */
    public String render() {
        var cells = new ArrayList<String[]>();
        cells.add(new String[] {"measure", "fivenines", peerName, "ratio"});
        for (Row row : rows) {
            double ratio = row.ratio();
            cells.add(new String[] {row.measure(), figure(row.fivenines()), figure(row.peer()),
                Double.isFinite(ratio) ? String.format(Locale.ROOT, "%.2fx", ratio) : "-"});
        }
        int[] widths = new int[4];
        for (String[] line : cells) {
            for (int i = 0; i < widths.length; i++) {
                widths[i] = Math.max(widths[i], line[i].length());
            }
        }
        var text = new StringBuilder();
        for (String[] line : cells) {
            text.append(pad(line[0], -widths[0]));
            for (int i = 1; i < widths.length; i++) {
                text.append("  ").append(pad(line[i], widths[i]));
            }
            text.append('\n');
        }
        text.append("ratio: how many times better fivenines is (").append(peerName)
            .append(" / fivenines for latency, fivenines / ").append(peerName).append(" for throughput)\n");
        return text.toString();
    }

    @Override
    public String toString() {
        return render();
    }

    private static String figure(double value) {
        if (Double.isNaN(value)) {
            return "-";
        }
        return String.format(Locale.ROOT, value >= 100 ? "%.0f" : "%.2f", value);
    }

    /** Left-aligned for a negative width, right-aligned for a positive one. */
    private static String pad(String text, int width) {
        return String.format(Locale.ROOT, "%" + width + "s", text);
    }
}
