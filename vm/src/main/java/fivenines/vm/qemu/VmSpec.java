package fivenines.vm.qemu;

import java.util.List;
import java.util.regex.Pattern;

/**
 * What QEMU needs to run one VM.
 *
 * @param name the VM's name; also QEMU's {@code -name} and the QMP client's label
 * @param memoryMib guest memory in MiB
 * @param vcpus virtual CPUs
 * @param boot how the guest boots
 * @param disks disks in the order the guest sees them (vda, vdb, ...)
 * @param nics network cards
 */
public record VmSpec(String name, int memoryMib, int vcpus, Boot boot, List<DiskSpec> disks, List<NicSpec> nics) {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");

    public VmSpec {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("VM name must be 1-63 letters, digits, '.', '_' or '-': " + name);
        }
        if (memoryMib < 16) {
            throw new IllegalArgumentException("VM " + name + ": memory " + memoryMib + " MiB is below 16 MiB");
        }
        if (vcpus < 1 || vcpus > 255) {
            throw new IllegalArgumentException("VM " + name + ": vcpus must be 1..255, not " + vcpus);
        }
        if (boot == null) {
            throw new IllegalArgumentException("VM " + name + ": no boot method");
        }
        disks = List.copyOf(disks);
        nics = List.copyOf(nics);
        if (boot instanceof Boot.FromDisk && disks.isEmpty()) {
            throw new IllegalArgumentException("VM " + name + " boots from disk but has no disk");
        }
    }
}
