package fivenines.manager.maintenance;

import fivenines.manager.placement.NodePlacement;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.ha.NodeMaintenance;
import fivenines.model.vm.DesiredState;
import fivenines.model.vm.NodeResources;
import fivenines.model.vm.VmRecord;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Decides what 'nines node maintenance' and 'nines node evacuate' move, by live migration. Pure:
 * it takes the cluster's state and returns the moves, or why nothing may move.
 *
 * <ul>
 * <li>Draining a node moves every VM that is not stopped off it, higher {@code priority} first,
 *     then larger memory first, each to the node with the most free memory that holds no VM of its
 *     anti-affinity group, among the nodes that are up and out of maintenance (the recovery's rules).
 *     All of them must find a place, or none moves: a half-drained node is no use to an operator.
 * <li>Bringing a node's VMs back moves each VM drained from it that still runs elsewhere, while
 *     the node has room and no VM of its group; the others stay where they are, with why.
 * </ul>
 */
public final class MaintenancePlanner {
    private MaintenancePlanner() {
    }

    public record Input(List<Node> nodes, Collection<VmRecord> vms, Map<String, NodeResources> resources,
                        Map<String, NodeMaintenance> maintenance) {
        public Input {
            nodes = List.copyOf(nodes);
            vms = List.copyOf(vms);
            resources = Map.copyOf(resources);
            maintenance = Map.copyOf(maintenance);
        }
    }

    /** One live migration. */
    public record Move(String vm, String from, String to) {
    }

    /** The moves, in order, and what was left where it is, with why. */
    public record Plan(List<Move> moves, List<String> staying) {
        public Plan {
            moves = List.copyOf(moves);
            staying = List.copyOf(staying);
        }
    }

    /** Why nothing may move; nothing was changed. */
    public static final class Refusal extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Refusal(String message) {
            super(message);
        }
    }

    /** The moves that empty {@code node}; a {@link Refusal} unless every VM there has a place elsewhere. */
    public static Plan drain(Input in, String node) {
        Node drained = requireHost(in, node);
        List<VmRecord> there = in.vms().stream().filter(v -> v.desired() != DesiredState.STOPPED
            && (node.equals(v.node()) || node.equals(v.migratingTo()))).sorted(ORDER).toList();
        if (there.isEmpty()) {
            return new Plan(List.of(), List.of());
        }
        if (drained.state() != NodeState.UP) {
            throw new Refusal("node '" + node + "' is down: its VMs cannot migrate live (the HA manager recovers its HA VMs"
                + " once it is fenced)");
        }
        for (VmRecord vm : there) {
            if (vm.migratingTo() != null) {
                throw new Refusal("VM '" + vm.name() + "' is migrating from " + vm.node() + " to " + vm.migratingTo()
                    + "; wait for it to finish, then try again");
            }
            if (vm.desired() != DesiredState.RUNNING) {
                throw new Refusal("VM '" + vm.name() + "' on " + node + " is " + vm.desired().name().toLowerCase(java.util.Locale.ROOT)
                    + " and only a running VM migrates live; resume it ('nines vm resume " + vm.name() + "') or stop it"
                    + " ('nines vm stop " + vm.name() + "') first");
            }
        }
        var excluded = new java.util.HashSet<>(in.maintenance().keySet());
        excluded.add(node);
        var placement = new NodePlacement(in.nodes(), in.vms(), in.resources(), excluded);
        List<String> hosts = in.nodes().stream().filter(n -> n.state() == NodeState.UP && !n.witness()
            && !excluded.contains(n.name())).map(Node::name).toList();
        if (hosts.isEmpty()) {
            throw new Refusal("node '" + node + "' is the last node that is up and out of maintenance; its VMs would have"
                + " nowhere to go (add a node, or take another one out of maintenance first)");
        }
        var moves = new ArrayList<Move>();
        for (VmRecord vm : there) {
            Optional<String> target = placement.choose(vm);
            if (target.isEmpty()) {
                String free = hosts.stream().map(h -> h + " " + placement.free(h) + " MiB").collect(Collectors.joining(", "));
                throw new Refusal("not enough room to drain node '" + node + "': VM '" + vm.name() + "' needs "
                    + vm.definition().memoryMib() + " MiB" + (vm.definition().antiAffinity() != null ? " on a node without"
                    + " another VM of anti-affinity group '" + vm.definition().antiAffinity() + "'" : "")
                    + "; free after the VMs placed before it: " + free + " (stop a VM, or add a node)");
            }
            placement.place(vm, target.get());
            moves.add(new Move(vm.name(), node, target.get()));
        }
        return new Plan(moves, List.of());
    }

    /** The moves that bring the VMs drained from {@code node} back to it. */
    public static Plan bringBack(Input in, String node) {
        Node home = requireHost(in, node);
        NodeMaintenance mark = in.maintenance().get(node);
        if (mark == null) {
            throw new Refusal("node '" + node + "' is not in maintenance ('nines node list' shows which are)");
        }
        var moves = new ArrayList<Move>();
        var staying = new ArrayList<String>();
        if (home.state() != NodeState.UP) {
            mark.returning().forEach(vm -> staying.add(vm + ": stays where it is, node '" + node + "' is down"));
            return new Plan(moves, staying);
        }
        var placement = new NodePlacement(in.nodes(), in.vms(), in.resources(), Set.of());
        var byName = in.vms().stream().collect(Collectors.toMap(VmRecord::name, v -> v));
        List<VmRecord> returning = mark.returning().stream().map(byName::get).filter(java.util.Objects::nonNull)
            .sorted(ORDER).toList();
        mark.returning().stream().filter(v -> !byName.containsKey(v)).forEach(v -> staying.add(v + ": removed since"));
        for (VmRecord vm : returning) {
            String why = null;
            if (node.equals(vm.node())) {
                continue;
            } else if (vm.desired() == DesiredState.STOPPED) {
                why = "stopped since; it starts where placement puts it";
            } else if (vm.migratingTo() != null) {
                why = "migrating to " + vm.migratingTo() + " now";
            } else if (vm.desired() != DesiredState.RUNNING) {
                why = vm.desired().name().toLowerCase(java.util.Locale.ROOT) + " on " + vm.node() + "; only a running VM migrates live";
            } else if (in.nodes().stream().noneMatch(n -> n.name().equals(vm.node()) && n.state() == NodeState.UP)) {
                why = "its node " + vm.node() + " is down";
            } else if (!placement.fits(vm, node)) {
                why = "node '" + node + "' has " + placement.free(node) + " MiB free, VM needs " + vm.definition().memoryMib()
                    + " MiB" + (vm.definition().antiAffinity() != null ? " and no VM of anti-affinity group '"
                    + vm.definition().antiAffinity() + "'" : "");
            }
            if (why != null) {
                staying.add(vm.name() + ": stays on " + vm.node() + " (" + why + ")");
                continue;
            }
            placement.place(vm, node);
            placement.release(vm, vm.node());
            moves.add(new Move(vm.name(), vm.node(), node));
        }
        return new Plan(moves, staying);
    }

    private static final Comparator<VmRecord> ORDER = Comparator.comparingInt((VmRecord v) -> -v.definition().priority())
        .thenComparingInt(v -> -v.definition().memoryMib()).thenComparing(VmRecord::name);

    private static Node requireHost(Input in, String node) {
        Node found = in.nodes().stream().filter(n -> n.name().equals(node)).findFirst().orElseThrow(() ->
            new Refusal("no node '" + node + "' in the cluster; 'nines node list' shows them"));
        if (found.witness()) {
            throw new Refusal("node '" + node + "' is a witness and runs no VMs; it has no maintenance mode");
        }
        return found;
    }
}
