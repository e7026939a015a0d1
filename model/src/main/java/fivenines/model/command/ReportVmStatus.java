package fivenines.model.command;

import fivenines.model.vm.GuestState;

/** The node running a VM reports what QEMU says (phase and detail). */
public record ReportVmStatus(String name, String node, GuestState phase, String detail) implements Command {
}
