package fivenines.model.command;

/**
 * Changes a VM's HA settings, also while it runs (they do not change its QEMU). A null field
 * keeps the current value; an empty anti-affinity group clears it.
 */
public record SetVmHa(String name, Boolean ha, Integer priority, String antiAffinity) implements Command {
}
