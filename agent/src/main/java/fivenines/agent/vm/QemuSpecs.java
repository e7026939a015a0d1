package fivenines.agent.vm;

import fivenines.model.vm.VmDefinition;
import fivenines.vm.qemu.Boot;
import fivenines.vm.qemu.CacheMode;
import fivenines.vm.qemu.DiskBus;
import fivenines.vm.qemu.DiskSource;
import fivenines.vm.qemu.DiskSpec;
import fivenines.vm.qemu.NicSpec;
import fivenines.vm.qemu.VmSpec;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Locale;

/** What QEMU is started with for a VM definition: its disks are the volumes served on this node's NBD socket. */
final class QemuSpecs {
    private QemuSpecs() {
    }

    static VmSpec of(VmDefinition d, Path nbdSocket) {
        Boot boot = d.boot() == null || d.boot().fromDisk() ? new Boot.FromDisk()
            : new Boot.Kernel(Path.of(d.boot().kernel()), d.boot().initrd() == null ? null : Path.of(d.boot().initrd()),
                d.boot().commandLine());
        var disks = new ArrayList<DiskSpec>();
        for (VmDefinition.VmDisk disk : d.disks()) {
            disks.add(new DiskSpec(new DiskSource.NbdUnix(nbdSocket, disk.volume()),
                DiskBus.valueOf(disk.bus().toUpperCase(Locale.ROOT)), CacheMode.valueOf(disk.cache().toUpperCase(Locale.ROOT)),
                disk.readOnly()));
        }
        var nics = new ArrayList<NicSpec>();
        for (VmDefinition.VmNic nic : d.nics()) {
            NicSpec.Network network = nic.network().startsWith("bridge:") ? new NicSpec.Network.Bridge(nic.network().substring(7))
                : nic.network().startsWith("tap:") ? new NicSpec.Network.Tap(nic.network().substring(4))
                : new NicSpec.Network.User();
            nics.add(new NicSpec(nic.mac(), network));
        }
        return new VmSpec(d.name(), d.memoryMib(), d.vcpus(), boot, disks, nics);
    }
}
