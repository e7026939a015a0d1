package fivenines.vm.qemu;

/** Where a VM is in its life, as the agent cares about it. */
public enum VmPhase {
    /** The guest is running. */
    RUNNING,
    /** Paused on request (QMP stop) or before it started. */
    PAUSED,
    /** Paused because a disk failed or filled up; {@code cont} retries the I/O. */
    IO_ERROR,
    /** A migration destination waiting for, or receiving, the VM's state. */
    INCOMING,
    /** A migration source that has handed over or is handing over; the destination runs the guest. */
    MIGRATED,
    /** The guest powered off; QEMU still holds it. */
    SHUTDOWN,
    /** The guest panicked or QEMU hit an internal error. */
    CRASHED,
    /** No QEMU process any more. */
    GONE
}
