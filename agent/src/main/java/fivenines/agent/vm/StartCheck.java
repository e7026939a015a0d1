package fivenines.agent.vm;

import fivenines.model.vm.VmDefinition;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What can be known to stop a VM from starting on a node before QEMU is tried: its kernel and
 * initrd must be readable files there, and a bridge its NICs join must exist there.
 */
final class StartCheck {
    private StartCheck() {
    }

    /** The reasons {@code definition} cannot start on {@code node} (empty when none is known). */
    static List<String> problems(VmDefinition definition, String node, Path sysClassNet) {
        var problems = new ArrayList<String>();
        VmDefinition.VmBoot boot = definition.boot();
        if (boot != null && !boot.fromDisk()) {
            requireReadable(problems, "kernel", boot.kernel(), node);
            if (boot.initrd() != null) {
                requireReadable(problems, "initrd", boot.initrd(), node);
            }
        }
        for (VmDefinition.VmNic nic : definition.nics()) {
            if (nic.network().startsWith("bridge:")) {
                String bridge = nic.network().substring("bridge:".length());
                if (bridge.isEmpty() || bridge.contains("/") || !Files.isDirectory(sysClassNet.resolve(bridge).resolve("bridge"))) {
                    problems.add("NIC " + nic.mac() + ": there is no bridge '" + bridge + "' on " + node + "; create it there ('ip link add "
                        + bridge + " type bridge') or give the NIC user networking ('--nic " + nic.mac() + "')");
                }
            }
        }
        return problems;
    }

    private static void requireReadable(List<String> problems, String what, String path, String node) {
        Path file = Path.of(path);
        if (!Files.isRegularFile(file)) {
            problems.add("the " + what + " " + path + " does not exist on " + node + " (a VM's " + what
                + " must be at that path on every node that may run it)");
        } else if (!Files.isReadable(file)) {
            problems.add("the " + what + " " + path + " cannot be read on " + node + " (check its permissions)");
        }
    }
}
