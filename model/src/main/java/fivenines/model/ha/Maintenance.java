package fivenines.model.ha;

import fivenines.model.cluster.Membership;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.SetMaintenance;
import fivenines.model.state.Rejection;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The nodes in maintenance ('nines node maintenance enable'). A node in maintenance takes no new
 * placement (start, migration, recovery); at least one node that runs guests stays out of it.
 */
public final class Maintenance {
    private final TreeMap<String, NodeMaintenance> nodes = new TreeMap<>();

    public Optional<NodeMaintenance> of(String node) {
        return Optional.ofNullable(nodes.get(node));
    }

    public boolean contains(String node) {
        return node != null && nodes.containsKey(node);
    }

    public Collection<NodeMaintenance> all() {
        return nodes.values();
    }

    public NodeMaintenance set(SetMaintenance command, Membership membership, long index) {
        membership.requireInitialized();
        Node node = membership.requireNode(command.node());
        NodeMaintenance current = nodes.get(node.name());
        if (!command.on()) {
            if (current == null) {
                throw Rejection.conflict("node '" + node.name() + "' is not in maintenance");
            }
            nodes.remove(node.name());
            return current;
        }
        if (node.witness()) {
            throw Rejection.conflict("node '" + node.name() + "' is a witness and runs no VMs; it has no maintenance mode");
        }
        if (current == null) {
            List<String> others = membership.nodes().stream().filter(n -> !n.witness() && !n.name().equals(node.name())
                && n.state() == NodeState.UP && !nodes.containsKey(n.name())).map(Node::name).toList();
            if (others.isEmpty()) {
                throw Rejection.conflict("node '" + node.name() + "' is the last node that is up and out of maintenance;"
                    + " its VMs would have nowhere to go (take another node out of maintenance first)");
            }
        }
        var returning = new LinkedHashSet<String>(current == null ? List.of() : current.returning());
        returning.addAll(command.returning());
        var marked = new NodeMaintenance(node.name(), new ArrayList<>(returning), current == null ? index : current.since());
        nodes.put(node.name(), marked);
        return marked;
    }

    /** The node left the cluster. */
    public void forget(String node) {
        nodes.remove(node);
    }

    public List<NodeMaintenance> snapshot() {
        return List.copyOf(nodes.values());
    }

    public void restore(List<NodeMaintenance> snapshot) {
        nodes.clear();
        if (snapshot != null) {
            snapshot.forEach(m -> nodes.put(m.node(), m));
        }
    }
}
