package fivenines.store;

/**
 * What a replica applied from its log since it started.
 *
 * @param snapshotIndex the last index of the snapshot it loaded at start (0 for none)
 * @param firstApplied  the first log index it applied after that (0 for none yet)
 * @param applied       how many entries it applied since it started
 * @param loadMillis    how long reading and restoring that snapshot took
 */
public record StartReplay(long snapshotIndex, long firstApplied, long applied, long loadMillis) {
}
