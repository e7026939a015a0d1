package fivenines.bench;

/**
 * One system's figures in the store benchmark.
 *
 * @param commitLatency      sequential single-key writes, each waited for until durably committed
 * @param lockPairsPerSecond lock acquire+release pairs per second, all clients together
 */
public record StoreResult(LatencySummary commitLatency, double lockPairsPerSecond) {
}
