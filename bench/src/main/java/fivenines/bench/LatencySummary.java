package fivenines.bench;

import java.util.Arrays;

/**
 * Latencies of one measured operation, in milliseconds.
 *
 * @param samples how many operations were measured
 */
public record LatencySummary(double p50Millis, double p99Millis, double meanMillis, int samples) {

    /** Summarises latencies given in nanoseconds; the array is not changed. */
    public static LatencySummary ofNanos(long[] latencies) {
        if (latencies.length == 0) {
            throw new IllegalArgumentException("no latencies to summarise");
        }
        long[] sorted = latencies.clone();
        Arrays.sort(sorted);
        double mean = Arrays.stream(sorted).average().orElseThrow();
        return new LatencySummary(percentile(sorted, 50) / 1e6, percentile(sorted, 99) / 1e6, mean / 1e6, sorted.length);
    }

    /** Nearest-rank percentile: the smallest sample that at least p % of the samples do not exceed. */
    private static long percentile(long[] sorted, int p) {
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, rank - 1)];
    }
}
