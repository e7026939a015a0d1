package fivenines.vm.qmp;

/** QEMU answered a command with an error: the command did not take effect. */
public final class QmpCommandException extends QmpException {
    private final String errorClass;
    private final String description;

    public QmpCommandException(String vmName, String command, String errorClass, String description) {
        super(vmName, command, "VM " + vmName + ": QMP " + command + " failed: " + errorClass + ": " + description, null);
        this.errorClass = errorClass;
        this.description = description;
    }

    /** QEMU's error class, such as {@code GenericError} or {@code DeviceNotFound}. */
    public String errorClass() {
        return errorClass;
    }

    public String description() {
        return description;
    }

    @Override
    public boolean mayHaveHappened() {
        return false;
    }
}
