package fivenines.store;

import java.nio.file.Path;
import java.time.Duration;

/**
 * How one replica of the cluster store runs.
 *
 * @param nodeName     this node's name, also its Raft peer id
 * @param raftHost     the address other replicas reach this one at
 * @param raftPort     the gRPC port of this replica
 * @param dataDir      where the Raft log and snapshots live ({@code DATA/raft})
 * @param secret       the cluster secret: every command and query carries its HMAC
 * @param snapshotEvery log entries between automatic snapshots (the log is purged up to each)
 * @param requestTimeout how long a command may take before the caller is told it may or may not have happened
 * @param tls          mutual TLS for Raft's gRPC, or null for plain text (a node without a cluster certificate)
 */
public record StoreConfig(String nodeName, String raftHost, int raftPort, Path dataDir, byte[] secret,
                          long snapshotEvery, Duration requestTimeout, StoreTls tls) {

    public StoreConfig(String nodeName, String raftHost, int raftPort, Path dataDir, byte[] secret,
                       long snapshotEvery, Duration requestTimeout) {
        this(nodeName, raftHost, raftPort, dataDir, secret, snapshotEvery, requestTimeout, null);
    }

    public StoreConfig withTls(StoreTls newTls) {
        return new StoreConfig(nodeName, raftHost, raftPort, dataDir, secret, snapshotEvery, requestTimeout, newTls);
    }

    public static final long DEFAULT_SNAPSHOT_EVERY = 10_000;
    public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(15);

    public StoreConfig(String nodeName, String raftHost, int raftPort, Path dataDir, byte[] secret) {
        this(nodeName, raftHost, raftPort, dataDir, secret, DEFAULT_SNAPSHOT_EVERY, DEFAULT_REQUEST_TIMEOUT);
    }

    /** The JVM property that overrides {@link #DEFAULT_SNAPSHOT_EVERY}, e.g. {@code -Dnines.store.snapshot-every=20}. */
    public static final String SNAPSHOT_EVERY_PROPERTY = "nines.store.snapshot-every";

    /**
     * Log entries between snapshots: the value of {@link #SNAPSHOT_EVERY_PROPERTY}, or the default when unset.
     * Small values make tests reach Ratis' snapshot paths (install on a follower, log purged) quickly.
     */
    public static long snapshotEvery(String property) {
        if (property == null || property.isBlank()) {
            return DEFAULT_SNAPSHOT_EVERY;
        }
        try {
            long value = Long.parseLong(property.strip());
            if (value >= 1) {
                return value;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException(SNAPSHOT_EVERY_PROPERTY + "='" + property + "' must be a whole number of log entries"
            + " of at least 1 (default " + DEFAULT_SNAPSHOT_EVERY + "); fix or drop -D" + SNAPSHOT_EVERY_PROPERTY);
    }

    public String raftAddress() {
        return raftHost + ":" + raftPort;
    }
}
