package fivenines.model.command;

import fivenines.model.cluster.NodeState;

/** Records what the manager observed of a node. A node declared DOWN loses its locks. */
public record SetNodeState(String name, NodeState state) implements Command {
}
