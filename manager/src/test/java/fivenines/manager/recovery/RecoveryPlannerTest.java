package fivenines.manager.recovery;

import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeRole;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.RecoverVm;
import fivenines.model.ha.FenceState;
import fivenines.model.ha.HaState;
import fivenines.model.ha.HaStatus;
import fivenines.model.ha.NodeFencing;
import fivenines.model.vm.DesiredState;
import fivenines.model.vm.GuestState;
import fivenines.model.vm.NodeResources;
import fivenines.model.vm.VmDefinition;
import fivenines.model.vm.VmRecord;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecoveryPlannerTest {
    private final List<Node> nodes = new ArrayList<>(List.of(node("n1", NodeState.DOWN), node("n2", NodeState.UP),
        node("n3", NodeState.UP), witness()));
    private final List<VmRecord> vms = new ArrayList<>();
    private final Map<String, NodeResources> resources = new HashMap<>(Map.of(
        "n1", new NodeResources("n1", 4096, 2), "n2", new NodeResources("n2", 2048, 2), "n3", new NodeResources("n3", 1536, 2)));
    private final Map<String, NodeFencing> fencing = new HashMap<>();
    private final Map<String, Duration> lease = new HashMap<>();
    private final Set<String> fencingHere = new HashSet<>();

    private static Node node(String name, NodeState state) {
        return new Node(name, name + ":7600", name + ":7601", NodeRole.VOTER, false, state, 1);
    }

    private static Node witness() {
        return new Node("w", "w:7600", "w:7601", NodeRole.VOTER, true, NodeState.UP, 1);
    }

    private VmRecord vm(String name, String node, int memory, int priority, String group, boolean ha) {
        var d = new VmDefinition(name, memory, 1, new VmDefinition.VmBoot("/k", null, null), List.of(), List.of(), null,
            priority, group, ha);
        var r = new VmRecord(d, DesiredState.RUNNING, node, null, GuestState.RUNNING, null, 1, 1, ha ? HaStatus.STARTED : null);
        vms.add(r);
        return r;
    }

    private RecoveryPlanner.Plan plan() {
        return RecoveryPlanner.plan(new RecoveryPlanner.Input(nodes, vms, resources, fencing, lease, fencingHere,
            RecoveryPlanner.Settings.DEFAULTS));
    }

    private static List<RecoverVm> moves(RecoveryPlanner.Plan plan) {
        return plan.commands().stream().filter(c -> c.to() != null).toList();
    }

    @Test
    void aDeadNodeIsFencedAtOnceButEvenFencedNothingMovesBeforeItsLeaseHasEnded() {
        vm("web", "n1", 512, 0, null, true);
        lease.put("n1", Duration.ofMillis(1200));
        var plan = plan();
        assertEquals(Set.of("n1"), plan.fence(), "fenced while the lease runs out: the waits overlap");
        assertTrue(moves(plan).isEmpty());

        fencing.put("n1", new NodeFencing("n1", FenceState.FENCED, null, 9));
        plan = plan();
        assertTrue(moves(plan).isEmpty(), "fenced, but the lease may still run: nothing moves");
        assertTrue(plan.fence().isEmpty());
        assertEquals(HaState.WAITING_FOR_FENCING, plan.commands().getFirst().state());
        assertTrue(plan.commands().getFirst().why().contains("lease ends in at most 1200 ms"), plan.commands().getFirst().why());

        fencing.put("n1", new NodeFencing("n1", FenceState.ACKNOWLEDGED, null, 10));
        assertTrue(moves(plan()).isEmpty(), "an operator's ack does not cut the lease short either");

        lease.put("n1", Duration.ZERO);
        assertEquals("n2", moves(plan()).getFirst().to(), "fenced and past its lease: placed");
    }

    @Test
    void afterTheLeaseTheNodeIsFencedAndOnlyOnceFencedAreItsVmsPlaced() {
        vm("web", "n1", 512, 0, null, true);
        lease.put("n1", Duration.ZERO);
        var first = plan();
        assertEquals(Set.of("n1"), first.fence());
        assertTrue(moves(first).isEmpty(), "fencing not done: nothing moves");

        fencingHere.add("n1");
        fencing.put("n1", new NodeFencing("n1", FenceState.FENCING, null, 7));
        assertTrue(plan().fence().isEmpty(), "a fencing under way here is not started twice");
        assertTrue(moves(plan()).isEmpty());

        fencing.put("n1", new NodeFencing("n1", FenceState.FAILED, "method 1 (ipmi): exit 1", 8));
        assertEquals(Set.of("n1"), plan().fence(), "a failed round is tried again");
        assertTrue(moves(plan()).isEmpty());

        fencing.put("n1", new NodeFencing("n1", FenceState.FENCED, null, 9));
        var placed = moves(plan());
        assertEquals(1, placed.size());
        assertEquals("n1", placed.getFirst().from());
        assertEquals("n2", placed.getFirst().to(), "the node with the most free memory");
    }

    @Test
    void aFencingLeftByAnEarlierLeaderIsStartedAgain() {
        vm("web", "n1", 512, 0, null, true);
        lease.put("n1", Duration.ZERO);
        fencing.put("n1", new NodeFencing("n1", FenceState.FENCING, null, 7));
        assertEquals(Set.of("n1"), plan().fence());
    }

    @Test
    void manualFencingWaitsForTheOperatorsAckAndSaysSo() {
        vm("web", "n1", 512, 0, null, true);
        lease.put("n1", Duration.ZERO);
        fencing.put("n1", new NodeFencing("n1", FenceState.WAITING_FOR_ACK, "method 1 is fence_manual", 7));
        var plan = plan();
        assertTrue(moves(plan).isEmpty());
        assertTrue(plan.fence().isEmpty());
        assertTrue(plan.commands().getFirst().why().contains("'nines fence ack n1'"), plan.commands().getFirst().why());
        fencing.put("n1", new NodeFencing("n1", FenceState.ACKNOWLEDGED, "by an operator", 8));
        assertEquals(1, moves(plan()).size());
    }

    @Test
    void higherPriorityFirstWithinMemoryAndTheRestWaitForRoom() {
        lease.put("n1", Duration.ZERO);
        fencing.put("n1", new NodeFencing("n1", FenceState.FENCED, null, 7));
        vm("low", "n1", 1536, 1, null, true);
        vm("high", "n1", 1536, 9, null, true);
        vm("mid", "n1", 1536, 5, null, true);
        vm("plain", "n1", 256, 100, null, false);
        var plan = plan();
        var placed = moves(plan);
        assertEquals(List.of("high", "mid"), placed.stream().map(RecoverVm::name).toList(), "priority order; 'low' does not fit");
        assertEquals(Set.of("n2", "n3"), Set.copyOf(placed.stream().map(RecoverVm::to).toList()), "one each: 1536 MiB fit once");
        var waiting = plan.commands().stream().filter(c -> c.name().equals("low")).findFirst().orElseThrow();
        assertEquals(HaState.WAITING_FOR_ROOM, waiting.state());
        assertTrue(plan.commands().stream().noneMatch(c -> c.name().equals("plain")), "a VM with HA off is left alone");
    }

    @Test
    void antiAffinityKeepsAGroupApartAndNeverOnTheWitness() {
        lease.put("n1", Duration.ZERO);
        fencing.put("n1", new NodeFencing("n1", FenceState.FENCED, null, 7));
        vm("db-b", "n2", 256, 0, "db", true);
        vm("db-a", "n1", 256, 0, "db", true);
        vm("db-c", "n1", 256, 0, "db", true);
        var plan = plan();
        var placed = moves(plan);
        assertEquals(1, placed.size());
        assertEquals("n3", placed.getFirst().to(), "n2 holds db-b already, n2 has more memory free but the group is there");
        assertEquals(HaState.WAITING_FOR_ROOM, plan.commands().stream().filter(c -> c.to() == null).findFirst().orElseThrow().state());
        assertTrue(placed.stream().noneMatch(c -> c.to().equals("w")));
    }

    @Test
    void noVmIsEverPlacedTwiceAndTheRelocationLimitEndsInErrorWithWhy() {
        lease.put("n1", Duration.ZERO);
        fencing.put("n1", new NodeFencing("n1", FenceState.FENCED, null, 7));
        for (int i = 0; i < 6; i++) {
            vm("vm" + i, "n1", 128, i % 3, null, true);
        }
        var worn = new VmRecord(vms.getFirst().definition(), DesiredState.RUNNING, "n1", null, GuestState.RUNNING, null, 1, 1,
            new HaStatus(HaState.STARTED, null, 2));
        vms.set(0, worn);
        var plan = plan();
        var names = moves(plan).stream().map(RecoverVm::name).toList();
        assertEquals(Set.copyOf(names).size(), names.size(), "each VM at most once");
        assertEquals(5, names.size());
        var error = plan.commands().stream().filter(c -> c.name().equals("vm0")).findFirst().orElseThrow();
        assertEquals(HaState.ERROR, error.state());
        assertTrue(error.why().contains("recovered 2 times") && error.why().contains("nines vm start vm0"), error.why());
    }

    @Test
    void whenMoreThanHalfOfTheNodesAreDownNothingIsFencedOrMoved() {
        nodes.set(1, node("n2", NodeState.DOWN));
        vm("web", "n1", 512, 0, null, true);
        lease.put("n1", Duration.ZERO);
        lease.put("n2", Duration.ZERO);
        var plan = plan();
        assertTrue(plan.fence().isEmpty());
        assertTrue(plan.commands().isEmpty());
        assertTrue(plan.notes().getFirst().contains("fencing-storm guard"), plan.notes().getFirst());
    }

    @Test
    void aStateAlreadyShownIsNotWrittenAgainEachTick() {
        var shown = new VmRecord(vm("web", "n1", 512, 0, null, true).definition(), DesiredState.RUNNING, "n1", null,
            GuestState.RUNNING, null, 1, 1, new HaStatus(HaState.WAITING_FOR_FENCING,
            "node n1 is fenced; its lease ends in at most 3000 ms", 0));
        vms.set(0, shown);
        fencing.put("n1", new NodeFencing("n1", FenceState.FENCED, null, 9));
        lease.put("n1", Duration.ofMillis(1800));
        assertTrue(plan().commands().isEmpty(), "only the countdown changed");
    }

    @Test
    void aNodeInMaintenanceTakesNoRecoveredVm() {
        vm("web", "n1", 512, 0, null, true);
        fencing.put("n1", new NodeFencing("n1", FenceState.FENCED, null, 1));
        var plan = RecoveryPlanner.plan(new RecoveryPlanner.Input(nodes, vms, resources, fencing, lease, fencingHere,
            RecoveryPlanner.Settings.DEFAULTS, Set.of("n2")));
        assertEquals(List.of("n3"), moves(plan).stream().map(RecoverVm::to).toList(), "n2 has more free memory but is in maintenance");
    }

    @Test
    void aDrainedNodeInMaintenanceThatGoesDownIsNeitherFencedNorCountedByTheStormGuard() {
        nodes.set(1, node("n2", NodeState.DOWN));
        vm("web", "n2", 512, 0, null, true);
        // n1 (in maintenance, drained) and n2 are down: 2 of 3 would trip the storm guard, but n1 is an operator's
        var plan = RecoveryPlanner.plan(new RecoveryPlanner.Input(nodes, vms, resources, fencing, lease, fencingHere,
            RecoveryPlanner.Settings.DEFAULTS, Set.of("n1")));
        assertEquals(Set.of("n2"), plan.fence(), plan.notes().toString());
        assertTrue(plan.notes().stream().noneMatch(n -> n.contains("storm")), plan.notes().toString());
    }

    @Test
    void aNodeInMaintenanceStillHoldingAnHaVmIsFencedLikeAnyOther() {
        vm("web", "n1", 512, 0, null, true);
        var plan = RecoveryPlanner.plan(new RecoveryPlanner.Input(nodes, vms, resources, fencing, lease, fencingHere,
            RecoveryPlanner.Settings.DEFAULTS, Set.of("n1")));
        assertEquals(Set.of("n1"), plan.fence(), "its VM may run elsewhere only once it is fenced");
    }
}
