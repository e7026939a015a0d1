package fivenines.agent.vm;

import fivenines.agent.api.ApiException;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeRole;
import fivenines.model.cluster.NodeState;
import fivenines.model.vm.VmDefinition;
import fivenines.model.vm.DesiredState;
import fivenines.model.vm.GuestState;
import fivenines.model.vm.VmRecord;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MigrationRefusalTest {
    private static final VmDefinition DEMO = new VmDefinition("demo", 256, 1, null,
        List.of(new VmDefinition.VmDisk("local/demo", null, null, false)), List.of(), null, 0, null);

    private static VmRecord running(String node, String migratingTo) {
        return new VmRecord(DEMO, DesiredState.RUNNING, node, migratingTo, GuestState.RUNNING, null, 3, 0);
    }

    private static Optional<Node> node(String name, NodeState state, boolean witness) {
        return Optional.of(new Node(name, "127.0.0.1:7600", "127.0.0.1:7601", NodeRole.VOTER, witness, state, 1));
    }

    private static ApiException refusal(VmRecord vm, String destination, Optional<Node> node) {
        return MigrationRefusal.of(vm, destination, node).orElseThrow(() -> new AssertionError("not refused"));
    }

    @Test
    void aMigrationToTheNodeTheVmRunsOnIsRefusedAsDidNotHappen() {
        ApiException refused = refusal(running("vm", null), "vm", node("vm", NodeState.UP, false));
        assertEquals(409, refused.status()); // the CLI exits 1: nothing happened
        assertTrue(refused.getMessage().contains("runs on vm already"), refused.getMessage());
        assertTrue(refused.getMessage().contains("another node"), refused.getMessage());
    }

    @Test
    void aMigrationToAnotherNodeThatIsUpMayBeTried() {
        assertTrue(MigrationRefusal.of(running("n0", null), "n1", node("n1", NodeState.UP, false)).isEmpty());
    }

    @Test
    void unknownDownAndWitnessDestinationsAreRefused() {
        assertEquals(404, refusal(running("n0", null), "nx", Optional.empty()).status());
        assertTrue(refusal(running("n0", null), "n1", node("n1", NodeState.DOWN, false)).getMessage().contains("down"));
        assertTrue(refusal(running("n0", null), "w", node("w", NodeState.UP, true)).getMessage().contains("witness"));
        assertEquals(400, refusal(running("n0", null), " ", Optional.empty()).status());
    }

    @Test
    void aStoppedVmOrOneMigratingAlreadyIsRefused() {
        VmRecord stopped = new VmRecord(DEMO, DesiredState.STOPPED, null, null, GuestState.STOPPED, null, 1, 0);
        assertTrue(refusal(stopped, "n1", node("n1", NodeState.UP, false)).getMessage().contains("vm start demo --node n1"));
        assertTrue(refusal(running("n0", "n1"), "n2", node("n2", NodeState.UP, false)).getMessage().contains("migrating to n1"));
    }
}
