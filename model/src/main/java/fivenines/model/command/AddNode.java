package fivenines.model.command;

/**
 * Adds a node. The state decides its role: a voter while there are fewer than the
 * cluster's maximum, a non-voting member after that. A witness always votes and runs no VMs.
 */
public record AddNode(String name, String apiAddress, String raftAddress, boolean witness) implements Command {
}
