package fivenines.model.ha;

import fivenines.model.cluster.Membership;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.RecordFencing;
import fivenines.model.state.Rejection;

import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The fencing state of each node declared down. A node declared up again starts clean: its entry
 * goes. An operator's acknowledgement ('nines fence ack') is accepted only for a node that is down.
 */
public final class Fencing {
    private final TreeMap<String, NodeFencing> nodes = new TreeMap<>();

    public Optional<NodeFencing> of(String node) {
        return Optional.ofNullable(nodes.get(node));
    }

    public Collection<NodeFencing> all() {
        return nodes.values();
    }

    public NodeFencing record(RecordFencing command, Membership membership, long index) {
        var node = membership.requireNode(command.node());
        if (command.state() == null) {
            throw Rejection.invalid("a fencing state is one of " + java.util.Arrays.toString(FenceState.values()));
        }
        if (node.state() != NodeState.DOWN) {
            throw Rejection.conflict("node '" + node.name() + "' is up; only a node declared down is fenced"
                + (command.state() == FenceState.ACKNOWLEDGED ? " or acknowledged as off" : ""));
        }
        NodeFencing current = nodes.get(node.name());
        if (current != null && current.state().done() && !command.state().done()) {
            throw Rejection.conflict("node '" + node.name() + "' is fenced already (" + current.state() + ")");
        }
        var fencing = new NodeFencing(node.name(), command.state(), command.detail(), index);
        nodes.put(node.name(), fencing);
        return fencing;
    }

    /** The node is up again, or gone: what was done to it is history. */
    public void forget(String node) {
        nodes.remove(node);
    }

    public List<NodeFencing> snapshot() {
        return List.copyOf(nodes.values());
    }

    public void restore(List<NodeFencing> snapshot) {
        nodes.clear();
        if (snapshot != null) {
            snapshot.forEach(f -> nodes.put(f.node(), f));
        }
    }
}
