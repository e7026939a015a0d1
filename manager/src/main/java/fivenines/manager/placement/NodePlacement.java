package fivenines.manager.placement;

import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.vm.DesiredState;
import fivenines.model.vm.NodeResources;
import fivenines.model.vm.VmRecord;

import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Free memory and anti-affinity groups per node, as a plan places VMs one after the other: the
 * rules the store applies ({@code Vms}), so what a plan chooses the store accepts. Hosts are the
 * nodes that are up, not witnesses and not excluded (in maintenance, or being drained).
 */
public final class NodePlacement {
    private final List<Node> hosts;
    private final Map<String, Long> free = new HashMap<>();
    private final Map<String, Map<String, Integer>> groups = new HashMap<>();

    public NodePlacement(List<Node> nodes, Collection<VmRecord> vms, Map<String, NodeResources> resources, Set<String> excluded) {
        hosts = nodes.stream().filter(n -> n.state() == NodeState.UP && !n.witness() && !excluded.contains(n.name())).toList();
        for (Node node : nodes) {
            NodeResources r = resources.get(node.name());
            free.put(node.name(), r == null ? Long.MAX_VALUE / 2 : r.memoryMib());
            groups.put(node.name(), new HashMap<>());
        }
        for (VmRecord vm : vms) {
            if (vm.desired() == DesiredState.STOPPED) {
                continue;
            }
            for (String node : new String[] {vm.node(), vm.migratingTo()}) {
                if (node != null && free.containsKey(node)) {
                    take(vm, node);
                }
            }
        }
    }

    /** The host with the most free memory that has room for the VM and holds no VM of its group. */
    public Optional<String> choose(VmRecord vm) {
        return hosts.stream().map(Node::name).filter(n -> fits(vm, n))
            .min(Comparator.comparingLong((String n) -> -free.get(n)).thenComparing(n -> n));
    }

    /** Whether the node has room for the VM and holds no VM of its anti-affinity group (other than the VM itself). */
    public boolean fits(VmRecord vm, String node) {
        String group = vm.definition().antiAffinity();
        return free.containsKey(node) && free.get(node) >= vm.definition().memoryMib()
            && (group == null || groups.get(node).getOrDefault(group, 0) == 0);
    }

    public long free(String node) {
        return free.getOrDefault(node, 0L);
    }

    /** Counts the VM on the node from now on. */
    public void place(VmRecord vm, String node) {
        take(vm, node);
    }

    /** The VM no longer counts on the node (it leaves it in this plan). */
    public void release(VmRecord vm, String node) {
        free.merge(node, (long) vm.definition().memoryMib(), Long::sum);
        String group = vm.definition().antiAffinity();
        if (group != null) {
            groups.get(node).merge(group, -1, Integer::sum);
        }
    }

    private void take(VmRecord vm, String node) {
        free.merge(node, -(long) vm.definition().memoryMib(), Long::sum);
        if (vm.definition().antiAffinity() != null) {
            groups.get(node).merge(vm.definition().antiAffinity(), 1, Integer::sum);
        }
    }
}
