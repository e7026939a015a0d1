package fivenines.plugin;

import java.nio.file.Path;
import java.util.concurrent.ThreadFactory;

/** What the host gives a plugin when it starts. */
public interface PluginContext {

    /** This node's name in the cluster. */
    String nodeName();

    /** A directory of the plugin's own under the agent's data directory, created on demand. */
    Path dataDir();

    /** The cluster store: desired state, commands, change notifications. */
    Cluster cluster();

    /** Cluster-wide named locks (what the seed used the DLM for). */
    ClusterLocks locks();

    /**
     * A factory for threads named {@code <plugin>-<purpose>-N}, so that
     * {@code nines mcp thread list} shows who started each thread.
     */
    ThreadFactory threads(String purpose);
}
