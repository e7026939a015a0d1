package fivenines.vm.xen;

import java.nio.file.Path;
import java.util.List;

/**
 * What a Xen domain config says that fivenines can honour, and a warning for each thing it
 * cannot. Values the config leaves out are null (numbers) or empty (lists).
 *
 * @param name the domain name
 * @param memoryMib {@code memory}, in MiB
 * @param vcpus {@code vcpus}
 * @param kernel {@code kernel}, a path on the Xen host
 * @param initrd {@code ramdisk}
 * @param commandLine {@code root=<root> <extra>}, or {@code cmdline}
 * @param disks {@code disk} entries, in order
 * @param nics {@code vif} entries, in order
 * @param onCrash {@code on_crash}, {@code destroy} or {@code restart} (others become warnings)
 * @param onReboot {@code on_reboot}
 * @param onPoweroff {@code on_poweroff}
 * @param warnings one line per key or sub-value not honoured
 */
public record XenDomainConfig(String name, Integer memoryMib, Integer vcpus, Path kernel, Path initrd,
                              String commandLine, List<XenDisk> disks, List<XenNic> nics,
                              String onCrash, String onReboot, String onPoweroff, List<String> warnings) {
    public XenDomainConfig {
        disks = List.copyOf(disks);
        nics = List.copyOf(nics);
        warnings = List.copyOf(warnings);
    }
}
