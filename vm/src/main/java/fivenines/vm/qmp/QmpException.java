package fivenines.vm.qmp;

/**
 * A QMP command that did not return. The subclass says whether the command may still have
 * taken effect: a {@link QmpCommandException} is QEMU's refusal (it did not happen), a
 * {@link QmpConnectionException} means the answer was lost (it may have happened).
 */
public abstract sealed class QmpException extends java.io.IOException
        permits QmpCommandException, QmpConnectionException {
    private final String vmName;
    private final String command;

    QmpException(String vmName, String command, String message, Throwable cause) {
        super(message, cause);
        this.vmName = vmName;
        this.command = command;
    }

    public String vmName() {
        return vmName;
    }

    /** The command that failed, or null for a failure of the connection itself. */
    public String command() {
        return command;
    }

    /** Whether QEMU may have carried the command out despite the failure. */
    public abstract boolean mayHaveHappened();
}
