package fivenines.agent.vm;

import fivenines.vm.qemu.QemuProcess;

/** A QEMU process this node runs for a VM. */
final class Guest {
    final QemuProcess process;
    /** Started here as the destination of a live migration that has not completed yet. */
    volatile boolean incoming;
    volatile String ioError;
    /** Crashes of this VM's guests here (carried over to the guest restarted after one). */
    RestartPolicy crashes;

    Guest(QemuProcess process) {
        this.process = process;
    }
}
