package fivenines.vm.qmp;

/**
 * The QMP connection failed, closed or timed out before the answer came: the command
 * may or may not have taken effect. Query the VM's state before retrying.
 */
public final class QmpConnectionException extends QmpException {
    public QmpConnectionException(String vmName, String command, String message, Throwable cause) {
        super(vmName, command, "VM " + vmName + ": " + message, cause);
    }

    @Override
    public boolean mayHaveHappened() {
        return command() != null;
    }
}
