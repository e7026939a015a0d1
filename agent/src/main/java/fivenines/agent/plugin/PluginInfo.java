package fivenines.agent.plugin;

import fivenines.plugin.Health;

import java.util.Map;

/** A plugin as {@code nines mcp plugin list} shows it. */
public record PluginInfo(String name, String description, PluginState state, Health health, String source,
                         Map<String, String> commands) {
}
