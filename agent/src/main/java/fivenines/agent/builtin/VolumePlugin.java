package fivenines.agent.builtin;

import fivenines.agent.storage.VolumeService;
import fivenines.block.volume.MirrorEngine;
import fivenines.plugin.Health;
import fivenines.plugin.Plugin;
import fivenines.plugin.PluginCommand;
import fivenines.plugin.PluginContext;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The volume engines of this node: one per logical volume attached here, each an NBD export
 * {@code VG/LV} of the block service. Stopping the plugin commits and stops the engines but
 * keeps the attachments; starting it (or the agent) serves them again.
 */
public final class VolumePlugin implements Plugin {
    private final VolumeService volumes;

    public VolumePlugin(VolumeService volumes) {
        this.volumes = volumes;
    }

    @Override
    public String name() {
        return "volumes";
    }

    @Override
    public String description() {
        return "volume engines: logical volumes attached here, served over NBD";
    }

    @Override
    public void start(PluginContext context) {
        volumes.start();
    }

    @Override
    public void stop() {
        volumes.stop();
    }

    @Override
    public Health health() {
        return Health.ok(volumes.engines().size() + " volumes attached here");
    }

    @Override
    public Map<String, PluginCommand> commands() {
        return Map.of("engines", PluginCommand.of("engines: volumes served here, their epochs and uncommitted chunks", a -> {
            var out = new LinkedHashMap<String, Object>();
            for (Map.Entry<String, MirrorEngine> e : volumes.engines().entrySet()) {
                out.put(e.getKey(), Map.of("epoch", e.getValue().epoch(), "uncommittedChunks", e.getValue().uncommitted()));
            }
            return out;
        }));
    }
}
