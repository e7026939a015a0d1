package fivenines.testsupport.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Whether a QEMU the agents started still runs. A daemonized QEMU is not the agent's child: once
 * killed it stays a zombie until init reaps it (here, up to a second or more), and
 * {@link ProcessHandle#isAlive()} counts a zombie as alive. A zombie writes nothing, so it counts
 * as gone here, as does a pid taken by another program.
 */
public final class QemuPids {
    private QemuPids() {
    }

    public static boolean running(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII);
            int afterName = stat.lastIndexOf(')');
            char state = stat.charAt(afterName + 2);
            return stat.substring(stat.indexOf('(') + 1, afterName).startsWith("qemu") && state != 'Z' && state != 'X';
        } catch (IOException | RuntimeException gone) {
            return false;
        }
    }

    /** What /proc says of the pid, for a failure message. */
    public static String describe(long pid) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII).strip();
        } catch (IOException gone) {
            return "no process " + pid;
        }
    }
}
