package fivenines.vm.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.vm.qmp.QmpClient;
import fivenines.vm.qmp.QmpConnectionException;
import fivenines.vm.qmp.QmpException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One QEMU process and its QMP connection. QEMU runs daemonized (its own session, parent
 * init), so it outlives the agent's JVM; {@link #adopt} finds it again from its pid file and
 * QMP socket. {@link #detach} lets go of it, {@link #stop} ends it.
 */
public final class QemuProcess implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(QemuProcess.class);
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);

    private final String name;
    private final VmFiles files;
    private final long pid;
    private final QmpClient qmp;

    private QemuProcess(String name, VmFiles files, long pid, QmpClient qmp) {
        this.name = name;
        this.files = files;
        this.pid = pid;
        this.qmp = qmp;
    }

    /** Starts the VM with the detected accelerator. */
    public static QemuProcess start(VmSpec spec, VmFiles files) throws IOException, InterruptedException {
        return start(spec, files, null);
    }

    /** Starts a migration destination: QEMU waits for the incoming state instead of booting. */
    public static QemuProcess startIncoming(VmSpec spec, VmFiles files, IncomingMigration incoming)
            throws IOException, InterruptedException {
        return start(spec, files, incoming);
    }

    /**
     * Starts a migration destination that stays paused after the state has arrived (QEMU's
     * {@code -S}) until it is told to continue.
     */
    public static QemuProcess startIncomingPaused(VmSpec spec, VmFiles files, IncomingMigration incoming)
            throws IOException, InterruptedException {
        return start(spec, files, incoming, true);
    }

    private static QemuProcess start(VmSpec spec, VmFiles files, IncomingMigration incoming)
            throws IOException, InterruptedException {
        return start(spec, files, incoming, false);
    }

    private static QemuProcess start(VmSpec spec, VmFiles files, IncomingMigration incoming, boolean paused)
            throws IOException, InterruptedException {
        Files.createDirectories(files.qmpSocket().toAbsolutePath().getParent());
        Files.deleteIfExists(files.qmpSocket());
        Files.deleteIfExists(files.pidFile());
        List<String> argv = QemuCommandLine.build(QemuCommandLine.DEFAULT_BINARY, spec, files,
                Accelerator.detect(), incoming, true, paused);
        log.info("VM {}: starting {}", spec.name(), String.join(" ", argv));
        // with -daemonize the launched process exits once QEMU is set up; errors come before that
        Process launcher = new ProcessBuilder(argv)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(files.qemuLog().toFile()))
                .start();
        launcher.getOutputStream().close();
        if (!launcher.waitFor(START_TIMEOUT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
            launcher.destroyForcibly();
            throw new IOException("VM " + spec.name() + ": QEMU did not finish starting within " + START_TIMEOUT
                    + "; see " + files.qemuLog());
        }
        if (launcher.exitValue() != 0) {
            throw new IOException("VM " + spec.name() + ": QEMU failed to start (exit " + launcher.exitValue() + "): "
                    + tail(files.qemuLog()));
        }
        long pid = readPid(spec.name(), files.pidFile());
        try {
            return new QemuProcess(spec.name(), files, pid, QmpClient.connect(spec.name(), files.qmpSocket(), START_TIMEOUT));
        } catch (IOException noQmp) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            throw noQmp;
        }
    }

    /** No QEMU to adopt: its pid file names no live QEMU, or cannot be read. */
    public static final class NotRunning extends IOException {
        NotRunning(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Re-attaches to a QEMU started earlier, for instance by the agent before it restarted.
     * {@link NotRunning} when there is none; any other IOException (QMP did not answer in time)
     * means the QEMU is alive and was not adopted, so nothing may start another on its disks.
     */
    public static QemuProcess adopt(String name, VmFiles files) throws IOException, InterruptedException {
        long pid;
        try {
            pid = readPid(name, files.pidFile());
        } catch (IOException unreadable) {
            throw new NotRunning(unreadable.getMessage(), unreadable);
        }
        if (!isQemuAlive(pid)) {
            throw new NotRunning("VM " + name + ": no QEMU process " + pid + " (from " + files.pidFile() + ") is running", null);
        }
        return new QemuProcess(name, files, pid, QmpClient.connect(name, files.qmpSocket(), Duration.ofSeconds(5)));
    }

    public String name() {
        return name;
    }

    public long pid() {
        return pid;
    }

    public VmFiles files() {
        return files;
    }

    public Path serialLog() {
        return files.serialLog();
    }

    /** The QMP connection, for commands this class does not wrap. */
    public QmpClient qmp() {
        return qmp;
    }

    public boolean isAlive() {
        return isQemuAlive(pid);
    }

    /** The VM's state; {@link VmStatus#GONE} once QEMU has exited. */
    public VmStatus status() throws InterruptedException {
        if (!isAlive()) {
            return VmStatus.GONE;
        }
        try {
            JsonNode status = qmp.execute("query-status", java.util.Map.of(), Duration.ofSeconds(10));
            return VmStatus.fromQemu(status.path("status").asText());
        } catch (QmpException lost) {
            if (!isAlive()) {
                return VmStatus.GONE;
            }
            throw new IllegalStateException("VM " + name + ": QEMU " + pid + " runs but QMP does not answer: "
                    + lost.getMessage(), lost);
        }
    }

    /** Pauses the guest (QMP stop). */
    public void pause() throws QmpException, InterruptedException {
        qmp.execute("stop");
    }

    /** Resumes a paused guest (QMP cont); after an I/O error this retries the failed requests. */
    public void resume() throws QmpException, InterruptedException {
        qmp.execute("cont");
    }

    /**
     * Asks the guest to power off (ACPI), then, after {@code grace}, ends QEMU as {@link #stop} does.
     * Returns true if the guest shut down by itself.
     */
    public boolean powerDown(Duration grace) throws InterruptedException {
        try {
            qmp.execute("system_powerdown");
        } catch (QmpException refused) {
            log.info("VM {}: system_powerdown failed: {}", name, refused.getMessage());
        }
        long deadline = System.nanoTime() + grace.toNanos();
        boolean clean = false;
        while (System.nanoTime() < deadline) {
            VmPhase phase = status().phase();
            if (phase == VmPhase.SHUTDOWN || phase == VmPhase.GONE) {
                clean = true;
                break;
            }
            Thread.sleep(200);
        }
        stop(Duration.ofSeconds(5));
        return clean;
    }

    /**
     * Ends QEMU: QMP quit, then SIGTERM, then SIGKILL, each given part of {@code grace}. The
     * guest gets no chance to shut down; use {@link #powerDown} for that.
     */
    public void stop(Duration grace) throws InterruptedException {
        try {
            qmp.execute("quit", java.util.Map.of(), grace);
        } catch (QmpConnectionException closedWhileQuitting) {
            // QEMU closes the socket as it exits, sometimes before answering
        } catch (QmpException refused) {
            log.warn("VM {}: QMP quit refused: {}", name, refused.getMessage());
        }
        if (awaitExit(grace)) {
            qmp.close();
            return;
        }
        Optional<ProcessHandle> process = ProcessHandle.of(pid);
        process.ifPresent(ProcessHandle::destroy);
        if (!awaitExit(Duration.ofSeconds(3))) {
            log.warn("VM {}: QEMU {} ignored SIGTERM, killing it", name, pid);
            process.ifPresent(ProcessHandle::destroyForcibly);
            awaitExit(Duration.ofSeconds(5));
        }
        qmp.close();
    }

    /** Kills QEMU at once (SIGKILL), as a crash would. For fault tests and fencing. */
    public void kill() throws InterruptedException {
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        awaitExit(Duration.ofSeconds(5));
        qmp.close();
    }

    /** Waits until QEMU has exited; returns false if it still runs after the timeout. */
    public boolean awaitExit(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (isAlive()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(50);
        }
        return true;
    }

    /** Lets go of QEMU, which keeps running; {@link #adopt} finds it again. */
    public void detach() {
        qmp.close();
    }

    /** Same as {@link #detach}: closing the Java object never stops the VM. */
    @Override
    public void close() {
        detach();
    }

    private static long readPid(String name, Path pidFile) throws IOException {
        try {
            return Long.parseLong(Files.readString(pidFile, StandardCharsets.US_ASCII).trim());
        } catch (NumberFormatException | IOException unreadable) {
            throw new IOException("VM " + name + ": cannot read a pid from " + pidFile + ": " + unreadable.getMessage(), unreadable);
        }
    }

    /**
     * Whether the pid is a live QEMU. A daemonized QEMU is not our child, so it may linger as a
     * zombie until init reaps it, and its pid may be reused: both count as gone. (Not
     * {@link ProcessHandle#isAlive()}, which counts a zombie as alive.)
     */
    public static boolean isQemuAlive(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII);
            int afterName = stat.lastIndexOf(')');
            String command = stat.substring(stat.indexOf('(') + 1, afterName);
            char state = stat.charAt(afterName + 2);
            return state != 'Z' && state != 'X' && command.startsWith("qemu");
        } catch (IOException | RuntimeException noSuchProcess) {
            return false;
        }
    }

    private static String tail(Path file) {
        try {
            List<String> lines = Files.readAllLines(file);
            if (lines.isEmpty()) {
                return "QEMU wrote nothing to " + file + " (was it killed?)";
            }
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 10), lines.size()));
        } catch (IOException unreadable) {
            return "(no log at " + file + ")";
        }
    }
}
