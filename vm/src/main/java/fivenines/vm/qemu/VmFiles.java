package fivenines.vm.qemu;

import java.nio.file.Path;

/**
 * The files of a running VM: enough to find it again after the agent restarts.
 *
 * @param qmpSocket QEMU's QMP Unix socket
 * @param pidFile QEMU's pid file
 * @param serialLog the guest's serial console
 * @param qemuLog QEMU's own messages before it daemonizes
 */
public record VmFiles(Path qmpSocket, Path pidFile, Path serialLog, Path qemuLog) {

    /** The usual names inside one directory per VM. */
    public static VmFiles in(Path directory) {
        return new VmFiles(directory.resolve("qmp.sock"), directory.resolve("qemu.pid"),
                directory.resolve("console.log"), directory.resolve("qemu.log"));
    }
}
