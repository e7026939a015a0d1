package fivenines.vm.qemu;

/**
 * A VM's state.
 *
 * @param phase what the agent makes of it
 * @param qemuStatus QEMU's own run state ({@code running}, {@code io-error}, {@code postmigrate}, ...), or
 *     {@code gone}
 */
public record VmStatus(VmPhase phase, String qemuStatus) {
    public static final VmStatus GONE = new VmStatus(VmPhase.GONE, "gone");

    /** Maps QEMU's RunState names, as query-status reports them. */
    public static VmStatus fromQemu(String status) {
        VmPhase phase = switch (status) {
            case "running" -> VmPhase.RUNNING;
            case "io-error" -> VmPhase.IO_ERROR;
            case "inmigrate" -> VmPhase.INCOMING;
            case "postmigrate", "finish-migrate" -> VmPhase.MIGRATED;
            case "shutdown" -> VmPhase.SHUTDOWN;
            case "guest-panicked", "internal-error" -> VmPhase.CRASHED;
            default -> VmPhase.PAUSED;
        };
        return new VmStatus(phase, status);
    }
}
