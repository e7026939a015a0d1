package fivenines.manager.recovery;

import fivenines.manager.placement.NodePlacement;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.RecoverVm;
import fivenines.model.ha.FenceState;
import fivenines.model.ha.HaState;
import fivenines.model.ha.NodeFencing;
import fivenines.model.vm.DesiredState;
import fivenines.model.vm.NodeResources;
import fivenines.model.vm.VmRecord;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Decides, on the store's leader, what becomes of the HA VMs of nodes declared down. Pure: it
 * takes the cluster's state, how long each dead node's lease still runs (on the leader's clock)
 * and which fencings this leader is running, and returns store commands and the nodes to fence.
 *
 * <ol>
 * <li>A dead node is fenced at once (its storage was fenced when it was declared down), while
 *     its lease runs out: the two waits overlap, as Pacemaker fences a lost node at once.
 * <li>Once it is fenced (by an agent, or acknowledged by an operator) and its lease has
 *     certainly ended, its VMs are placed on nodes
 *     that are up: higher {@code priority} first, then larger memory first; each on the node with
 *     the most free memory that holds no VM of its anti-affinity group. A VM that fits nowhere
 *     waits for room; one recovered {@code maxRelocations} times since it was last started by an
 *     operator is left in {@code error}, with why.
 * <li>If more than half of the nodes that run guests are down at once, nothing is fenced or moved
 *     (the fencing-storm guard): this leader's own view is then the likelier fault.
 * <li>A node in maintenance takes no recovered VM; while it holds no HA VM (drained) it is not
 *     fenced when down, nor counted by the storm guard.
 * </ol>
 * Each VM has one placement in the store and a recovery names the node it moves from, so no
 * VM is ever placed on two nodes; the state machine re-checks down, fenced and room when it applies.
 */
public final class RecoveryPlanner {
    private RecoveryPlanner() {
    }

    /** @param maxRelocations recoveries onto another node before the VM is left in error (Proxmox's max_relocate) */
    public record Settings(int maxRelocations) {
        public static final Settings DEFAULTS = new Settings(2);
    }

    /**
     * What the planner is given.
     *
     * @param leaseRemaining for each node declared down, how long its lease may still run (zero once it certainly ended)
     * @param fencingHere    the nodes this leader is fencing now
     */
    public record Input(List<Node> nodes, Collection<VmRecord> vms, Map<String, NodeResources> resources,
                        Map<String, NodeFencing> fencing, Map<String, Duration> leaseRemaining, Set<String> fencingHere,
                        Settings settings, Set<String> maintenance) {
        public Input {
            maintenance = Set.copyOf(maintenance);
        }

        /** With no node in maintenance. */
        public Input(List<Node> nodes, Collection<VmRecord> vms, Map<String, NodeResources> resources,
                     Map<String, NodeFencing> fencing, Map<String, Duration> leaseRemaining, Set<String> fencingHere,
                     Settings settings) {
            this(nodes, vms, resources, fencing, leaseRemaining, fencingHere, settings, Set.of());
        }
    }

    /** @param fence the nodes to start fencing now */
    public record Plan(List<RecoverVm> commands, Set<String> fence, List<String> notes) {
        public Plan {
            commands = List.copyOf(commands);
            fence = Set.copyOf(fence);
            notes = List.copyOf(notes);
        }
    }

    public static Plan plan(Input in) {
        var commands = new ArrayList<RecoverVm>();
        var fence = new LinkedHashSet<String>();
        var notes = new ArrayList<String>();
        // a node in maintenance that holds no HA VM may be down (an operator is at it): it is neither fenced nor counted
        List<Node> hosts = in.nodes().stream().filter(n -> !n.witness()
            && !(in.maintenance().contains(n.name()) && in.vms().stream().noneMatch(v -> n.name().equals(v.node()) && isHa(v))))
            .toList();
        List<Node> dead = hosts.stream().filter(n -> n.state() == NodeState.DOWN).toList();
        if (dead.isEmpty()) {
            return new Plan(commands, fence, notes);
        }
        if (dead.size() * 2 > hosts.size()) {
            notes.add(dead.size() + " of " + hosts.size() + " nodes are down at once (" + dead.stream().map(Node::name).toList()
                + "): fencing and recovering nothing (fencing-storm guard)");
            return new Plan(commands, fence, notes);
        }
        var placement = new NodePlacement(in.nodes(), in.vms(), in.resources(), in.maintenance());
        var ready = new ArrayList<VmRecord>();
        for (Node node : dead) {
            List<VmRecord> lost = in.vms().stream().filter(v -> node.name().equals(v.node()) && isHa(v)).toList();
            if (lost.isEmpty()) {
                continue;
            }
            Duration left = in.leaseRemaining().getOrDefault(node.name(), Duration.ZERO);
            NodeFencing fencing = in.fencing().get(node.name());
            if (fencing == null || fencing.state() == FenceState.FAILED
                || (fencing.state() == FenceState.FENCING && !in.fencingHere().contains(node.name()))) {
                fence.add(node.name());
                mark(commands, lost, HaState.WAITING_FOR_FENCING, "fencing node " + node.name()
                    + (fencing != null && fencing.detail() != null ? " (last: " + fencing.detail() + ")" : ""));
                continue;
            }
            switch (fencing.state()) {
                case FENCING -> mark(commands, lost, HaState.WAITING_FOR_FENCING, "fencing node " + node.name());
                case WAITING_FOR_ACK -> mark(commands, lost, HaState.WAITING_FOR_FENCING, "waiting for 'nines fence ack "
                    + node.name() + "'" + (fencing.detail() != null ? ": " + fencing.detail() : ""));
                default -> {
                    if (left.isZero()) {
                        ready.addAll(lost);
                    } else {
                        // off by its fence agent or an operator's word, and still its guests wait out the lease
                        mark(commands, lost, HaState.WAITING_FOR_FENCING, "node " + node.name() + " is fenced; its lease ends"
                            + " in at most " + left.toMillis() + " ms");
                    }
                }
            }
        }
        ready.sort(Comparator.comparingInt((VmRecord v) -> -v.definition().priority())
            .thenComparingInt(v -> -v.definition().memoryMib()).thenComparing(VmRecord::name));
        for (VmRecord vm : ready) {
            if (vm.ha().relocations() >= in.settings().maxRelocations()) {
                mark(commands, List.of(vm), HaState.ERROR, "recovered " + vm.ha().relocations() + " times since it was last"
                    + " started (limit " + in.settings().maxRelocations() + "); check it, then 'nines vm start " + vm.name() + "'");
                continue;
            }
            Optional<String> target = placement.choose(vm);
            if (target.isEmpty()) {
                mark(commands, List.of(vm), HaState.WAITING_FOR_ROOM, "no node that is up" + (in.maintenance().isEmpty() ? "" : " and out of maintenance") + " has " + vm.definition().memoryMib()
                    + " MiB free" + (vm.definition().antiAffinity() != null ? " and no VM of anti-affinity group '"
                    + vm.definition().antiAffinity() + "'" : ""));
                continue;
            }
            placement.place(vm, target.get());
            commands.add(new RecoverVm(vm.name(), vm.node(), target.get(), HaState.RECOVERING, null));
            notes.add("VM " + vm.name() + " (priority " + vm.definition().priority() + "): recovering from " + vm.node()
                + " on " + target.get());
        }
        return new Plan(commands, fence, notes);
    }

    private static boolean isHa(VmRecord vm) {
        return vm.definition().ha() && vm.ha() != null && vm.desired() != DesiredState.STOPPED;
    }

    /** Records a state, unless the VM shows it already (the store is not written every tick). */
    private static void mark(List<RecoverVm> commands, List<VmRecord> vms, HaState state, String why) {
        for (VmRecord vm : vms) {
            if (vm.ha().state() != state || !sameStep(vm.ha().why(), why)) {
                commands.add(new RecoverVm(vm.name(), vm.node(), null, state, why));
            }
        }
    }

    /** A waiting VM's reason is rewritten when the step changes, not each time the remaining lease shrinks. */
    private static boolean sameStep(String before, String now) {
        if (before == null) {
            return false;
        }
        int a = before.indexOf(" in at most ");
        int b = now.indexOf(" in at most ");
        return a >= 0 && b >= 0 ? before.substring(0, a).equals(now.substring(0, b)) : before.equals(now);
    }
}
