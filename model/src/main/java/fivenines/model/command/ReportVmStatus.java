package fivenines.model.command;

/** The node running a VM reports what QEMU says (phase and detail). */
public record ReportVmStatus(String name, String node, String phase, String detail) implements Command {
}
