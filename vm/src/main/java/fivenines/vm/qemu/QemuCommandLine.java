package fivenines.vm.qemu;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Builds QEMU's argv for a {@link VmSpec}. Pure: it starts nothing. */
public final class QemuCommandLine {
    public static final String DEFAULT_BINARY = "qemu-system-x86_64";
    private static final ObjectMapper json = new ObjectMapper();

    private QemuCommandLine() {
    }

    /**
     * @param incoming null for a normal start, else how this QEMU waits for a migration
     * @param daemonize whether QEMU detaches (so it survives the agent) once it is ready
     */
    public static List<String> build(String binary, VmSpec spec, VmFiles files, Accelerator accelerator,
                                     IncomingMigration incoming, boolean daemonize) {
        return build(binary, spec, files, accelerator, incoming, daemonize, false);
    }

    /**
     * @param paused the guest waits for QMP {@code cont} ({@code -S}): a migration destination
     *     started so resumes only once its disks have caught up
     */
    public static List<String> build(String binary, VmSpec spec, VmFiles files, Accelerator accelerator,
                                     IncomingMigration incoming, boolean daemonize, boolean paused) {
        var argv = new ArrayList<>(List.of(binary,
                "-name", "guest=" + escape(spec.name()) + ",debug-threads=on",
                "-nodefaults", "-no-user-config", "-display", "none",
                "-machine", "pc",
                "-accel", accelerator.qemuName(),
                "-cpu", accelerator == Accelerator.KVM ? "host" : "qemu64",
                "-m", spec.memoryMib() + "M",
                "-smp", Integer.toString(spec.vcpus()),
                // a powered-off guest stays visible as "shutdown" until the agent decides
                "-no-shutdown",
                "-chardev", "socket,id=qmp,path=" + escape(files.qmpSocket()) + ",server=on,wait=off",
                "-mon", "chardev=qmp,mode=control",
                "-chardev", "file,id=serial0,path=" + escape(files.serialLog()),
                "-serial", "chardev:serial0",
                "-pidfile", files.pidFile().toString()));
        switch (spec.boot()) {
            case Boot.Kernel kernel -> {
                argv.addAll(List.of("-kernel", kernel.kernel().toString()));
                if (kernel.initrd() != null) {
                    argv.addAll(List.of("-initrd", kernel.initrd().toString()));
                }
                argv.addAll(List.of("-append", kernel.commandLine()));
            }
            case Boot.FromDisk fromDisk -> argv.addAll(List.of("-boot", "order=c"));
        }
        for (int index = 0; index < spec.disks().size(); index++) {
            addDisk(argv, index, spec.disks().get(index));
        }
        for (int index = 0; index < spec.nics().size(); index++) {
            addNic(argv, index, spec.nics().get(index));
        }
        switch (incoming) {
            case null -> { }
            case IncomingMigration.Tcp tcp -> argv.addAll(List.of("-incoming", tcp.uri()));
            case IncomingMigration.Deferred deferred -> argv.addAll(List.of("-incoming", "defer"));
        }
        if (paused) {
            argv.add("-S");
        }
        if (daemonize) {
            argv.add("-daemonize");
        }
        return List.copyOf(argv);
    }

    private static void addDisk(List<String> argv, int index, DiskSpec disk) {
        String node = "disk" + index;
        ObjectNode format = json.createObjectNode();
        format.put("driver", "raw");
        format.put("node-name", node);
        format.put("read-only", disk.readOnly());
        ObjectNode protocol = format.putObject("file");
        switch (disk.source()) {
            case DiskSource.File file -> {
                format.put("driver", file.format().qemuName());
                protocol.put("driver", "file");
                protocol.put("filename", file.path().toString());
                ObjectNode cache = json.createObjectNode();
                cache.put("direct", disk.cache() == CacheMode.NONE || disk.cache() == CacheMode.DIRECTSYNC);
                cache.put("no-flush", disk.cache() == CacheMode.UNSAFE);
                protocol.set("cache", cache);
                format.set("cache", cache.deepCopy());
            }
            case DiskSource.NbdUnix nbd -> {
                protocol.put("driver", "nbd");
                ObjectNode server = protocol.putObject("server");
                server.put("type", "unix");
                server.put("path", nbd.socket().toString());
                protocol.put("export", nbd.exportName());
                // the volume engine lives in the agent: requests wait for a restarted agent instead of failing.
                // QEMU retries the connection after 1, 2, 4, 8, then every 16 s: with 30 s, an agent that serves
                // again more than ~15 s after it stopped was missed and the guest paused on EIO for good
                protocol.put("reconnect-delay", 120);
            }
            case DiskSource.NbdTcp nbd -> {
                protocol.put("driver", "nbd");
                ObjectNode server = protocol.putObject("server");
                server.put("type", "inet");
                server.put("host", nbd.host());
                server.put("port", Integer.toString(nbd.port()));
                protocol.put("export", nbd.exportName());
            }
        }
        protocol.put("read-only", disk.readOnly());
        argv.addAll(List.of("-blockdev", format.toString()));
        String device = switch (disk.bus()) {
            case VIRTIO -> "virtio-blk-pci";
            case IDE -> "ide-hd";
        };
        boolean writeCache = disk.cache() != CacheMode.WRITETHROUGH && disk.cache() != CacheMode.DIRECTSYNC;
        // an I/O error pauses the guest instead of reaching it: ENOSPC on a thin pool is recoverable
        argv.addAll(List.of("-device", device + ",drive=" + node + ",id=" + node + "-device"
                + ",write-cache=" + (writeCache ? "on" : "off")
                + (disk.readOnly() ? "" : ",werror=stop") + ",rerror=stop"
                + (index == 0 ? ",bootindex=1" : "")));
    }

    private static void addNic(List<String> argv, int index, NicSpec nic) {
        String id = "net" + index;
        String netdev = switch (nic.network()) {
            case NicSpec.Network.User user -> "user,id=" + id;
            case NicSpec.Network.Tap tap -> "tap,id=" + id + ",ifname=" + escape(tap.device()) + ",script=no,downscript=no";
            case NicSpec.Network.Bridge bridge -> "bridge,id=" + id + ",br=" + escape(bridge.bridge());
        };
        argv.addAll(List.of("-netdev", netdev, "-device", "virtio-net-pci,netdev=" + id + ",mac=" + nic.mac()));
    }

    /** QEMU's option syntax doubles a comma to keep it inside a value. */
    private static String escape(Object value) {
        return value.toString().replace(",", ",,");
    }
}
