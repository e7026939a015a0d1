package fivenines.agent.plugin;

import fivenines.plugin.Cluster;
import fivenines.plugin.ClusterLocks;
import fivenines.plugin.PluginContext;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadFactory;

/** What the host hands a plugin: its name decides its data folder and thread names. */
public record HostedContext(String pluginName, String nodeName, Path agentDataDir, Cluster cluster, ClusterLocks locks)
    implements PluginContext {

    @Override
    public Path dataDir() {
        Path dir = agentDataDir.resolve("plugin-data").resolve(pluginName);
        try {
            return Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create plugin data folder " + dir, e);
        }
    }

    @Override
    public ThreadFactory threads(String purpose) {
        return Thread.ofPlatform().name(pluginName + "-" + purpose + "-", 0).daemon(true).factory();
    }
}
