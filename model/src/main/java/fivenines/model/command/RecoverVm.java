package fivenines.model.command;

import fivenines.model.ha.HaState;

/**
 * The HA manager's decision about a VM whose node is dead. With {@code to} set, the VM is placed
 * there (refused unless {@code from} is still its node, is down and is fenced, and {@code to} is up
 * with room); without it, the VM's HA state is recorded as {@code state} with {@code why}.
 */
public record RecoverVm(String name, String from, String to, HaState state, String why) implements Command {
}
