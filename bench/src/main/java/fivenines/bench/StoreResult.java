package fivenines.bench;

/**
 * One system's figures in the store benchmark.
 *
 * @param commitLatency      sequential single-key writes, each waited for until durably committed
 * @param lockPairsPerSecond lock acquire+release pairs per second, all clients together
 * @param mixed              many clients doing config sets and reads as fast as they can (null when not run)
 */
public record StoreResult(LatencySummary commitLatency, double lockPairsPerSecond, MixedResult mixed) {

    public StoreResult(LatencySummary commitLatency, double lockPairsPerSecond) {
        this(commitLatency, lockPairsPerSecond, null);
    }

    /**
     * The mixed phase: closed-loop clients, each sending its next operation as soon as the last answered.
     *
     * @param operationsPerSecond sets and reads per second, all clients together
     * @param latency             every operation's latency, sets and reads together
     */
    public record MixedResult(double operationsPerSecond, LatencySummary latency) {
    }
}
