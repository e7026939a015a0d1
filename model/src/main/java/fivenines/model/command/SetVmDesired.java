package fivenines.model.command;

import fivenines.model.vm.DesiredState;

/**
 * What the operator wants of a VM: running, stopped or paused; {@code node} places it (null keeps
 * the current placement, or lets the cluster choose the least loaded node for a first start).
 */
public record SetVmDesired(String name, DesiredState desired, String node) implements Command {
}
