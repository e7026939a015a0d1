package fivenines.model.command;

/**
 * What the operator wants of a VM: running, stopped or paused; {@code node} places it (null keeps
 * the current placement, or lets the cluster choose the least loaded node for a first start).
 */
public record SetVmDesired(String name, String desired, String node) implements Command {
}
