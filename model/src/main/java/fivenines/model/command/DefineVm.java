package fivenines.model.command;

import fivenines.model.vm.VmDefinition;

/** Creates a VM definition (stopped), or replaces one that is stopped when {@code replace}. */
public record DefineVm(VmDefinition definition, boolean replace) implements Command {
}
