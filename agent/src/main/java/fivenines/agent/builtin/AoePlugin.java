package fivenines.agent.builtin;

import fivenines.block.aoe.AoeExports;
import fivenines.plugin.Health;
import fivenines.plugin.Plugin;
import fivenines.plugin.PluginContext;

/**
 * The AoE targets of this node ({@code nines aoe export}); started by the API, all stopped with
 * the plugin. Registered after the volumes, so it stops before the engines it serves from.
 */
public final class AoePlugin implements Plugin {
    private final AoeExports exports;

    public AoePlugin(AoeExports exports) {
        this.exports = exports;
    }

    @Override
    public String name() {
        return "aoe";
    }

    @Override
    public String description() {
        return "ATA over Ethernet targets: volumes and PVs of this node as eSHELF.SLOT on a network interface";
    }

    @Override
    public void start(PluginContext context) {
    }

    @Override
    public void stop() {
        exports.close();
    }

    @Override
    public Health health() {
        return Health.ok(exports.list().size() + " AoE targets");
    }
}
