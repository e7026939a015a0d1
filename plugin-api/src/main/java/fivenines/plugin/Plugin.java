package fivenines.plugin;

import java.util.Map;

/**
 * A subsystem of the agent, started and stopped by the plugin host (the seed's {@code mcp}).
 * Built-in subsystems (store, api, manager, block, vms) are plugins, and so are third-party
 * ones found through {@link java.util.ServiceLoader} in jars under {@code DATA/plugins},
 * each loaded in its own class loader.
 *
 * <p>The host calls {@link #start} and {@link #stop} from one thread at a time. A plugin
 * names every thread it starts ({@link PluginContext#threads}).
 */
public interface Plugin {

    /** A short unique name: lowercase letters, digits and '-'. */
    String name();

    /** One line saying what the plugin does, shown by {@code nines mcp plugin list}. */
    default String description() {
        return "";
    }

    /** Starts the plugin. Throwing leaves it stopped, with the error shown in its health. */
    void start(PluginContext context) throws Exception;

    /** Stops the plugin and everything it started. Called once per successful start. */
    void stop() throws Exception;

    /** Whether the plugin is doing its job; called often, so it must be cheap. */
    default Health health() {
        return Health.ok();
    }

    /**
     * Commands that an operator can send with {@code nines mcp plugin tell NAME COMMAND ARGS...},
     * by name. Unknown names are answered with the list of these.
     */
    default Map<String, PluginCommand> commands() {
        return Map.of();
    }
}
