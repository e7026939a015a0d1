package fivenines.vm.migration;

/**
 * A migration that did not complete. It was cancelled if it was still running; the source
 * keeps the guest, and {@link #sourceStatus()} says in what state it was left.
 */
public final class MigrationFailedException extends Exception {
    private final String vmName;
    private final String sourceStatus;

    public MigrationFailedException(String vmName, String message, String sourceStatus, Throwable cause) {
        super("VM " + vmName + ": migration failed: " + message + " (source is " + sourceStatus + ")", cause);
        this.vmName = vmName;
        this.sourceStatus = sourceStatus;
    }

    public String vmName() {
        return vmName;
    }

    /** QEMU's run state on the source after the failure, normally {@code running}. */
    public String sourceStatus() {
        return sourceStatus;
    }
}
