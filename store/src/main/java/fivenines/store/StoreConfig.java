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
 */
public record StoreConfig(String nodeName, String raftHost, int raftPort, Path dataDir, byte[] secret,
                          long snapshotEvery, Duration requestTimeout) {

    public static final long DEFAULT_SNAPSHOT_EVERY = 10_000;
    public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(15);

    public StoreConfig(String nodeName, String raftHost, int raftPort, Path dataDir, byte[] secret) {
        this(nodeName, raftHost, raftPort, dataDir, secret, DEFAULT_SNAPSHOT_EVERY, DEFAULT_REQUEST_TIMEOUT);
    }

    public String raftAddress() {
        return raftHost + ":" + raftPort;
    }
}
