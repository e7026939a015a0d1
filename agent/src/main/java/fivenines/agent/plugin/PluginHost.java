package fivenines.agent.plugin;

import fivenines.agent.api.ApiException;
import fivenines.plugin.Health;
import fivenines.plugin.Plugin;
import fivenines.plugin.PluginCommand;
import fivenines.plugin.PluginContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * The agent's plugin host, as the seed's {@code mcp} daemon: holds every subsystem as a
 * plugin, starts them in registration order, stops them in reverse, and loads third-party
 * plugins from jars, each in its own class loader so that it can be unloaded.
 */
public final class PluginHost implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PluginHost.class);
    private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9-]{0,31}");

    private final Function<Plugin, PluginContext> contexts;
    private final Map<String, Entry> plugins = new LinkedHashMap<>();

    public PluginHost(Function<Plugin, PluginContext> contexts) {
        this.contexts = contexts;
    }

    private static final class Entry {
        final Plugin plugin;
        final String source;
        final URLClassLoader loader;
        volatile PluginState state = PluginState.STOPPED;
        volatile String failure;

        Entry(Plugin plugin, String source, URLClassLoader loader) {
            this.plugin = plugin;
            this.source = source;
            this.loader = loader;
        }
    }

    public synchronized void register(Plugin plugin) {
        add(plugin, "built-in", null);
    }

    private void add(Plugin plugin, String source, URLClassLoader loader) {
        String name = plugin.name();
        if (name == null || !NAME.matcher(name).matches()) {
            throw ApiException.badRequest("plugin " + plugin.getClass().getName() + " from " + source + " has name '" + name
                + "'; a plugin name is 1-32 lowercase letters, digits or '-', starting with a letter");
        }
        if (plugins.containsKey(name)) {
            throw ApiException.conflict("a plugin named '" + name + "' is loaded already (from "
                + plugins.get(name).source + "); unload it first");
        }
        plugins.put(name, new Entry(plugin, source, loader));
    }

    private Entry entry(String name) {
        Entry entry = plugins.get(name);
        if (entry == null) {
            throw ApiException.notFound("no plugin named '" + name + "'; loaded plugins: " + plugins.keySet());
        }
        return entry;
    }

    public synchronized void start(String name) {
        Entry entry = entry(name);
        if (entry.state == PluginState.RUNNING) {
            return;
        }
        if (!entry.state.canStart()) {
            throw ApiException.conflict("plugin '" + name + "' is " + entry.state + "; wait for it to settle");
        }
        entry.state = PluginState.STARTING;
        ClassLoader previous = Thread.currentThread().getContextClassLoader();
        try {
            if (entry.loader != null) {
                Thread.currentThread().setContextClassLoader(entry.loader);
            }
            entry.plugin.start(contexts.apply(entry.plugin));
            entry.state = PluginState.RUNNING;
            entry.failure = null;
            LOG.info("plugin {} started", name);
        } catch (Exception e) {
            entry.state = PluginState.FAILED;
            entry.failure = "start failed: " + e.getMessage();
            LOG.warn("plugin {} failed to start", name, e);
            throw new ApiException(500, "plugin '" + name + "' failed to start: " + e.getMessage());
        } finally {
            Thread.currentThread().setContextClassLoader(previous);
        }
    }

    public synchronized void stop(String name) {
        Entry entry = entry(name);
        if (entry.state != PluginState.RUNNING) {
            return;
        }
        entry.state = PluginState.STOPPING;
        try {
            entry.plugin.stop();
            entry.state = PluginState.STOPPED;
            LOG.info("plugin {} stopped", name);
        } catch (Exception e) {
            entry.state = PluginState.FAILED;
            entry.failure = "stop failed: " + e.getMessage();
            LOG.warn("plugin {} failed to stop cleanly", name, e);
            throw new ApiException(500, "plugin '" + name + "' failed to stop cleanly: " + e.getMessage());
        }
    }

    /** Starts every stopped plugin, in registration order; a failure is logged and the rest go on. */
    public synchronized void startAll() {
        for (String name : List.copyOf(plugins.keySet())) {
            try {
                start(name);
            } catch (ApiException e) {
                LOG.error("{}", e.getMessage());
            }
        }
    }

    /** Stops every plugin in reverse registration order. */
    public synchronized void stopAll() {
        var names = new ArrayList<>(plugins.keySet());
        java.util.Collections.reverse(names);
        for (String name : names) {
            try {
                stop(name);
            } catch (ApiException e) {
                LOG.error("{}", e.getMessage());
            }
        }
    }

    /** Loads the plugins of one jar (found through ServiceLoader) and starts them. */
    public synchronized List<String> load(Path jar) {
        if (!Files.isRegularFile(jar)) {
            throw ApiException.badRequest("no plugin jar at " + jar + "; give the path of a .jar file on the agent's machine");
        }
        URLClassLoader loader;
        try {
            loader = new URLClassLoader("plugin:" + jar.getFileName(), new java.net.URL[]{jar.toUri().toURL()},
                PluginHost.class.getClassLoader());
        } catch (IOException e) {
            throw ApiException.badRequest("cannot open plugin jar " + jar + ": " + e.getMessage());
        }
        var found = new ArrayList<Plugin>();
        try {
            ServiceLoader.load(Plugin.class, loader).stream()
                .filter(p -> p.type().getClassLoader() == loader)
                .forEach(p -> found.add(p.get()));
        } catch (java.util.ServiceConfigurationError e) {
            closeQuietly(loader);
            throw ApiException.badRequest("plugin jar " + jar + " is broken: " + e.getMessage());
        }
        if (found.isEmpty()) {
            closeQuietly(loader);
            throw ApiException.badRequest("plugin jar " + jar + " declares no plugin: it needs a "
                + "META-INF/services/" + Plugin.class.getName() + " file naming its Plugin classes");
        }
        for (Plugin plugin : found) {
            if (plugins.containsKey(plugin.name())) {
                closeQuietly(loader);
                throw ApiException.conflict("jar " + jar + " brings plugin '" + plugin.name()
                    + "', but one of that name is loaded already (from " + plugins.get(plugin.name()).source + ")");
            }
        }
        var names = new ArrayList<String>();
        for (Plugin plugin : found) {
            add(plugin, jar.toAbsolutePath().toString(), loader);
            names.add(plugin.name());
        }
        for (String name : names) {
            try {
                start(name);
            } catch (ApiException e) {
                LOG.warn("{}", e.getMessage());
            }
        }
        return names;
    }

    /** Stops and forgets a plugin loaded from a jar; closes its class loader once no plugin of that jar is left. */
    public synchronized void unload(String name) {
        Entry entry = entry(name);
        if (entry.loader == null) {
            throw ApiException.conflict("plugin '" + name + "' is built in and cannot be unloaded; stop it instead");
        }
        if (entry.state == PluginState.RUNNING) {
            stop(name);
        }
        plugins.remove(name);
        boolean loaderInUse = plugins.values().stream().anyMatch(e -> e.loader == entry.loader);
        if (!loaderInUse) {
            closeQuietly(entry.loader);
        }
        LOG.info("plugin {} unloaded", name);
    }

    /** Loads every jar in a folder; a bad jar is logged and skipped. */
    public void loadFolder(Path folder) {
        if (!Files.isDirectory(folder)) {
            return;
        }
        try (var jars = Files.list(folder)) {
            for (Path jar : jars.filter(p -> p.toString().endsWith(".jar")).sorted().toList()) {
                try {
                    load(jar);
                } catch (ApiException e) {
                    LOG.error("skipping plugin jar {}: {}", jar, e.getMessage());
                }
            }
        } catch (IOException e) {
            LOG.error("cannot list plugin folder {}", folder, e);
        }
    }

    public synchronized Object tell(String name, String command, List<String> arguments) {
        Entry entry = entry(name);
        Map<String, PluginCommand> commands = entry.plugin.commands();
        PluginCommand handler = commands.get(command);
        if (handler == null) {
            throw ApiException.badRequest("plugin '" + name + "' has no command '" + command + "'; its commands: "
                + new TreeMap<>(commands).keySet());
        }
        try {
            return handler.run(arguments);
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(name + " " + command + ": " + e.getMessage() + " (usage: " + handler.help() + ")");
        } catch (ApiException e) {
            throw e;
        } catch (Exception e) {
            throw new ApiException(500, name + " " + command + " failed: " + e.getMessage());
        }
    }

    public synchronized List<PluginInfo> list() {
        return plugins.entrySet().stream().map(e -> info(e.getKey(), e.getValue())).toList();
    }

    public synchronized PluginInfo info(String name) {
        return info(name, entry(name));
    }

    private static PluginInfo info(String name, Entry entry) {
        Health health;
        if (entry.state == PluginState.FAILED) {
            health = Health.failed(entry.failure);
        } else if (entry.state != PluginState.RUNNING) {
            health = Health.degraded("not running");
        } else {
            try {
                health = entry.plugin.health();
            } catch (RuntimeException e) {
                health = Health.failed("health check threw: " + e.getMessage());
            }
        }
        var commands = new TreeMap<String, String>();
        entry.plugin.commands().forEach((k, v) -> commands.put(k, v.help()));
        return new PluginInfo(name, entry.plugin.description(), entry.state, health, entry.source, commands);
    }

    @Override
    public synchronized void close() {
        stopAll();
        plugins.values().stream().map(e -> e.loader).filter(java.util.Objects::nonNull).distinct()
            .forEach(PluginHost::closeQuietly);
    }

    private static void closeQuietly(URLClassLoader loader) {
        try {
            loader.close();
        } catch (IOException e) {
            LOG.warn("closing class loader {} failed", loader.getName(), e);
        }
    }
}
