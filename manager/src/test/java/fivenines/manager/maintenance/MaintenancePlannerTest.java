package fivenines.manager.maintenance;

import fivenines.manager.maintenance.MaintenancePlanner.Move;
import fivenines.manager.maintenance.MaintenancePlanner.Refusal;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeRole;
import fivenines.model.cluster.NodeState;
import fivenines.model.ha.HaStatus;
import fivenines.model.ha.NodeMaintenance;
import fivenines.model.vm.DesiredState;
import fivenines.model.vm.GuestState;
import fivenines.model.vm.NodeResources;
import fivenines.model.vm.VmDefinition;
import fivenines.model.vm.VmRecord;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MaintenancePlannerTest {
    private final List<Node> nodes = new ArrayList<>(List.of(node("n1", NodeState.UP), node("n2", NodeState.UP),
        node("n3", NodeState.UP), witness()));
    private final List<VmRecord> vms = new ArrayList<>();
    private final Map<String, NodeResources> resources = new HashMap<>(Map.of(
        "n1", new NodeResources("n1", 4096, 2), "n2", new NodeResources("n2", 2048, 2), "n3", new NodeResources("n3", 1536, 2)));
    private final Map<String, NodeMaintenance> maintenance = new HashMap<>();

    private static Node node(String name, NodeState state) {
        return new Node(name, name + ":7600", name + ":7601", NodeRole.VOTER, false, state, 1);
    }

    private static Node witness() {
        return new Node("w", "w:7600", "w:7601", NodeRole.VOTER, true, NodeState.UP, 1);
    }

    private VmRecord vm(String name, String node, int memory, int priority, String group, DesiredState desired) {
        var d = new VmDefinition(name, memory, 1, new VmDefinition.VmBoot("/k", null, null), List.of(), List.of(), null,
            priority, group, true);
        var r = new VmRecord(d, desired, node, null, desired == DesiredState.STOPPED ? GuestState.STOPPED : GuestState.RUNNING,
            null, 1, 1, HaStatus.STARTED);
        vms.add(r);
        return r;
    }

    private VmRecord vm(String name, String node, int memory) {
        return vm(name, node, memory, 0, null, DesiredState.RUNNING);
    }

    private MaintenancePlanner.Input input() {
        return new MaintenancePlanner.Input(nodes, vms, resources, maintenance);
    }

    /** The state after the moves, as the store would hold it. */
    private void apply(MaintenancePlanner.Plan plan) {
        for (Move move : plan.moves()) {
            VmRecord v = vms.stream().filter(r -> r.name().equals(move.vm())).findFirst().orElseThrow();
            assertEquals(move.from(), v.node(), move.toString());
            vms.set(vms.indexOf(v), new VmRecord(v.definition(), v.desired(), move.to(), null, v.phase(), null,
                v.generation() + 1, v.createdAt(), v.ha()));
        }
    }

    @Test
    void drainingMovesEveryRunningVmToTheNodesWithTheMostFreeMemoryHigherPriorityFirst() {
        vm("small", "n1", 256, 0, null, DesiredState.RUNNING);
        vm("big", "n1", 1024, 0, null, DesiredState.RUNNING);
        vm("important", "n1", 512, 10, null, DesiredState.RUNNING);
        vm("parked", "n1", 4000, 0, null, DesiredState.STOPPED);
        vm("elsewhere", "n2", 512);
        var plan = MaintenancePlanner.drain(input(), "n1");
        // n2 has 1536 free and n3 1536: ties go by name; then each placement shrinks what is free
        assertEquals(List.of(new Move("important", "n1", "n2"), new Move("big", "n1", "n3"), new Move("small", "n1", "n2")),
            plan.moves());
    }

    @Test
    void drainingRespectsAntiAffinity() {
        vm("web-a", "n1", 256, 0, "web", DesiredState.RUNNING);
        vm("web-b", "n2", 256, 0, "web", DesiredState.RUNNING);
        var plan = MaintenancePlanner.drain(input(), "n1");
        assertEquals(List.of(new Move("web-a", "n1", "n3")), plan.moves(), "n2 has more free memory but a VM of group web");
    }

    @Test
    void drainingIsRefusedWholeWhenOneVmFitsNowhereElse() {
        vm("fits", "n1", 1024);
        vm("huge", "n1", 2100);
        var refusal = assertThrows(Refusal.class, () -> MaintenancePlanner.drain(input(), "n1"));
        assertTrue(refusal.getMessage().contains("VM 'huge' needs 2100 MiB"), refusal.getMessage());
        assertTrue(refusal.getMessage().contains("n2 2048 MiB") && refusal.getMessage().contains("n3 1536 MiB"),
            refusal.getMessage());
    }

    @Test
    void roomCountsTheVmsPlacedBeforeInTheSamePlan() {
        vm("a", "n1", 1536);
        vm("b", "n1", 1536);
        vm("c", "n1", 1024);
        var refusal = assertThrows(Refusal.class, () -> MaintenancePlanner.drain(input(), "n1"));
        assertTrue(refusal.getMessage().contains("VM 'c' needs 1024 MiB"), refusal.getMessage());
    }

    @Test
    void nodesInMaintenanceDownOrWitnessesTakeNothing() {
        vm("web", "n1", 256);
        maintenance.put("n2", new NodeMaintenance("n2", List.of(), 1));
        nodes.set(2, node("n3", NodeState.DOWN));
        var refusal = assertThrows(Refusal.class, () -> MaintenancePlanner.drain(input(), "n1"));
        assertTrue(refusal.getMessage().contains("last node that is up and out of maintenance"), refusal.getMessage());
        nodes.set(2, node("n3", NodeState.UP));
        assertEquals(List.of(new Move("web", "n1", "n3")), MaintenancePlanner.drain(input(), "n1").moves());
    }

    @Test
    void badNodesAndVmsThatCannotMigrateLiveAreRefused() {
        assertTrue(assertThrows(Refusal.class, () -> MaintenancePlanner.drain(input(), "n9")).getMessage()
            .contains("no node 'n9'"));
        assertTrue(assertThrows(Refusal.class, () -> MaintenancePlanner.drain(input(), "w")).getMessage()
            .contains("witness"));
        vm("paused", "n1", 256, 0, null, DesiredState.PAUSED);
        var refusal = assertThrows(Refusal.class, () -> MaintenancePlanner.drain(input(), "n1"));
        assertTrue(refusal.getMessage().contains("VM 'paused'") && refusal.getMessage().contains("nines vm resume paused"),
            refusal.getMessage());
    }

    @Test
    void aDownNodeWithVmsIsNotDrained() {
        vm("web", "n1", 256);
        nodes.set(0, node("n1", NodeState.DOWN));
        var refusal = assertThrows(Refusal.class, () -> MaintenancePlanner.drain(input(), "n1"));
        assertTrue(refusal.getMessage().contains("is down"), refusal.getMessage());
    }

    @Test
    void anEmptyNodeDrainsWithNoMove() {
        vm("parked", "n1", 256, 0, null, DesiredState.STOPPED);
        assertTrue(MaintenancePlanner.drain(input(), "n1").moves().isEmpty());
    }

    @Test
    void bringingBackMovesTheDrainedVmsHomeAndLeavesTheOthersWithWhy() {
        vm("a", "n1", 1024);
        vm("b", "n1", 512);
        vm("gone", "n1", 256);
        vm("stays", "n2", 256);
        apply(MaintenancePlanner.drain(input(), "n1"));
        assertTrue(vms.stream().noneMatch(v -> "n1".equals(v.node())), vms.toString());
        maintenance.put("n1", new NodeMaintenance("n1", List.of("a", "b", "gone", "removed"), 1));
        int gone = vms.indexOf(vms.stream().filter(v -> v.name().equals("gone")).findFirst().orElseThrow());
        VmRecord g = vms.get(gone);
        vms.set(gone, new VmRecord(g.definition(), DesiredState.STOPPED, g.node(), null, GuestState.STOPPED, null, 2, 1, g.ha()));
        var plan = MaintenancePlanner.bringBack(input(), "n1");
        assertEquals(List.of(new Move("a", vms.get(0).node(), "n1"), new Move("b", vms.get(1).node(), "n1")), plan.moves());
        assertEquals(2, plan.staying().size(), plan.staying().toString());
        assertTrue(plan.staying().stream().anyMatch(s -> s.startsWith("gone: stays") && s.contains("stopped")), plan.staying().toString());
        assertTrue(plan.staying().stream().anyMatch(s -> s.startsWith("removed: removed")), plan.staying().toString());
    }

    @Test
    void bringingBackStopsWhereTheNodeHasNoRoomLeft() {
        vm("a", "n2", 1024);
        vm("b", "n3", 1024);
        vm("newcomer", "n1", 3500);
        maintenance.put("n1", new NodeMaintenance("n1", List.of("a", "b"), 1));
        var plan = MaintenancePlanner.bringBack(input(), "n1");
        assertTrue(plan.moves().isEmpty(), plan.toString());
        assertTrue(plan.staying().getFirst().contains("596 MiB free"), plan.staying().toString());
    }

    @Test
    void bringingBackANodeNotInMaintenanceIsRefused() {
        var refusal = assertThrows(Refusal.class, () -> MaintenancePlanner.bringBack(input(), "n1"));
        assertTrue(refusal.getMessage().contains("not in maintenance"), refusal.getMessage());
    }
}
