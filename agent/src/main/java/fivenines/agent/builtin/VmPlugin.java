package fivenines.agent.builtin;

import fivenines.agent.vm.VmService;
import fivenines.plugin.Health;
import fivenines.plugin.Plugin;
import fivenines.plugin.PluginContext;

/**
 * The node controller for VMs. Stopping it lets go of the QEMU processes without stopping the
 * guests; starting it (or a restarted agent) adopts them again.
 */
public final class VmPlugin implements Plugin {
    private final VmService vms;

    public VmPlugin(VmService vms) {
        this.vms = vms;
    }

    @Override
    public String name() {
        return "vms";
    }

    @Override
    public String description() {
        return "VMs: QEMU processes for the guests placed here, over QMP";
    }

    @Override
    public void start(PluginContext context) {
        vms.start();
    }

    @Override
    public void stop() {
        vms.stop();
    }

    @Override
    public Health health() {
        return Health.ok("watching the guests placed here");
    }
}
