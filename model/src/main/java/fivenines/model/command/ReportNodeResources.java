package fivenines.model.command;

/** A node reports the memory and CPUs it can give to guests. */
public record ReportNodeResources(String node, long memoryMib, int cpus) implements Command {
}
