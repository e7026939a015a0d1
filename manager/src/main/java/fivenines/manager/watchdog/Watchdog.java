package fivenines.manager.watchdog;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A machine reset that the agent holds off by kicking it while it holds its lease (sbd's and
 * Proxmox's watchdog-mux idea): an agent that hangs, or a node that lost its lease, stops kicking
 * and the machine resets, so a guest can never outlive the lease by more than the watchdog's
 * timeout. Where there is no watchdog the lease and storage fencing are all there is, and
 * {@link #description} says so.
 */
public interface Watchdog extends AutoCloseable {
    /** Holds the reset off for another timeout. */
    void kick();

    /** Whether a reset is armed at all. */
    boolean armed();

    /** What this is, for 'nines ha status'. */
    String description();

    /** Disarms it (a clean stop must not reset the machine). */
    @Override
    void close();

    /** {@code /dev/watchdog} when it exists and opens, otherwise none (saying why). */
    static Watchdog open(Path device) {
        if (!Files.exists(device)) {
            return new NoWatchdog("no " + device + " on this machine: a hung agent is not reset; the lease and storage"
                + " fencing (epochs) keep its guests' writes out");
        }
        try {
            return DeviceWatchdog.open(device);
        } catch (java.io.IOException | RuntimeException e) {
            return new NoWatchdog(device + " exists but cannot be opened (" + e.getMessage() + "): a hung agent is not"
                + " reset; the lease and storage fencing (epochs) keep its guests' writes out");
        }
    }
}
