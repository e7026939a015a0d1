package fivenines.model.vm;

import fivenines.model.codec.Json;
import fivenines.model.command.AddNode;
import fivenines.model.command.Command;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.DefineVm;
import fivenines.model.command.MigrateVm;
import fivenines.model.command.RemoveLogicalVolume;
import fivenines.model.command.RemoveNode;
import fivenines.model.command.RemoveVm;
import fivenines.model.command.ReportNodeResources;
import fivenines.model.command.ReportVmStatus;
import fivenines.model.command.SetVmDesired;
import fivenines.model.command.SetMaintenance;
import fivenines.model.ha.NodeMaintenance;
import fivenines.model.state.ClusterState;
import fivenines.model.state.Rejection;
import fivenines.model.state.Result;
import fivenines.model.state.StateMachine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VmsTest {
    final StateMachine machine = new StateMachine(new ClusterState());
    long index;

    Object applied(Command command) {
        Result result = machine.apply(command, ++index);
        if (result instanceof Result.Rejected r) {
            throw new AssertionError("rejected: " + r.message());
        }
        return ((Result.Applied) result).value();
    }

    Result.Rejected rejected(Command command) {
        String before = Json.text(machine.state().snapshot().vms());
        var rejected = assertInstanceOf(Result.Rejected.class, machine.apply(command, ++index));
        assertEquals(before, Json.text(machine.state().snapshot().vms()), "a rejected command changed the VMs");
        return rejected;
    }

    @BeforeEach
    void cluster() {
        applied(new CreateCluster("c", "a".repeat(64), "n0", "127.0.0.1:7600", "127.0.0.1:7601", 3));
        applied(new AddNode("n1", "127.0.0.1:7610", "127.0.0.1:7611", false));
        applied(new AddNode("w", "127.0.0.1:7620", "127.0.0.1:7621", true));
        applied(new ReportNodeResources("n0", 4096, 2));
        applied(new ReportNodeResources("n1", 2048, 2));
        applied(new CreatePhysicalVolume("00000000-0000-4000-8000-000000000001", "n0", "/pv", 256L << 20, 4L << 20,
            "127.0.0.1:7602", "/run/nbd.sock"));
        applied(new CreateVolumeGroup("vg", List.of("n0:/pv")));
        applied(new CreateLogicalVolume("vg", "web", 64L << 20, null, true));
        applied(new CreateLogicalVolume("vg", "db", 64L << 20, null, true));
    }

    static VmDefinition vm(String name, int memory, String volume, String mac) {
        return new VmDefinition(name, memory, 1, new VmDefinition.VmBoot("/boot/vmlinuz", "/boot/initrd.img", "console=ttyS0"),
            volume == null ? List.of() : List.of(new VmDefinition.VmDisk(volume, null, null, false)),
            mac == null ? List.of() : List.of(new VmDefinition.VmNic(mac, null)), null, 0, null);
    }

    @Test
    void definitionsAreValidatedWithClearReasons() {
        applied(new DefineVm(vm("web", 512, "vg/web", "52:54:00:00:00:01"), false));
        assertTrue(rejected(new DefineVm(vm("x", 512, "vg/nope", null), false)).message().contains("no logical volume 'vg/nope'"));
        assertTrue(rejected(new DefineVm(vm("x", 512, null, "52:54:00:00:00:01"), false)).message().contains("belongs to VM 'web'"));
        assertTrue(rejected(new DefineVm(vm("x", 512, "vg/web", null), false)).message().contains("disk of VM 'web'"));
        assertTrue(rejected(new DefineVm(vm("x", 8192, null, null), false)).message().contains("largest node has 4096 MiB"));
        assertTrue(rejected(new DefineVm(vm("x", 512, null, "01:00:00:00:00:01"), false)).message().contains("unicast"));
        assertTrue(rejected(new DefineVm(vm("bad name", 512, null, null), false)).message().contains("VM name"));
        assertTrue(rejected(new DefineVm(vm("web", 512, null, null), false)).message().contains("exists already"));
        var fromDisk = new VmDefinition("y", 128, 1, new VmDefinition.VmBoot(null, null, null), List.of(), List.of(), null, 0, null);
        assertTrue(rejected(new DefineVm(fromDisk, false)).message().contains("no disk"));
        var badNet = new VmDefinition("y", 128, 1, null, List.of(new VmDefinition.VmDisk("vg/db", "scsi", null, false)), List.of(), null, 0, null);
        assertEquals(Rejection.Reason.INVALID, rejected(new DefineVm(badNet, false)).reason());
        assertTrue(rejected(new RemoveLogicalVolume("vg", "web")).message().contains("disk of VM [web]"));
    }

    @Test
    void startingPlacesOnTheNodeWithMostFreeMemoryAndRespectsLimits() {
        applied(new DefineVm(vm("a", 1536, "vg/web", null), false));
        applied(new DefineVm(vm("b", 1536, "vg/db", null), false));
        var a = (VmRecord) applied(new SetVmDesired("a", DesiredState.RUNNING, null));
        assertEquals("n0", a.node(), "n0 has the most free memory");
        var b = (VmRecord) applied(new SetVmDesired("b", DesiredState.RUNNING, null));
        assertEquals("n0", b.node(), "n0 still has the most free memory (2560 MiB against 2048)");
        assertTrue(rejected(new SetVmDesired("a", DesiredState.RUNNING, "n1")).message().contains("vm migrate"));
        applied(new DefineVm(vm("c", 3000, null, null), false));
        assertTrue(rejected(new SetVmDesired("c", DesiredState.RUNNING, "n1")).message().contains("2048 MiB free"));
        assertTrue(rejected(new SetVmDesired("c", DesiredState.RUNNING, "w")).message().contains("witness"));
        assertTrue(rejected(new SetVmDesired("c", DesiredState.RUNNING, null)).message().contains("no node that is up has 3000 MiB"));
        assertEquals(Rejection.Reason.INVALID, assertThrows(Rejection.class, () -> DesiredState.of("flying")).reason());
        assertTrue(rejected(new SetVmDesired("c", DesiredState.PAUSED, null)).message().contains("stopped"));
        assertTrue(rejected(new RemoveVm("a")).message().contains("stop it first"));
    }

    @Test
    void aMigrationMovesThePlacementOnlyWhenItCompletes() {
        applied(new DefineVm(vm("a", 512, "vg/web", null), false));
        applied(new SetVmDesired("a", DesiredState.RUNNING, "n0"));
        applied(new ReportVmStatus("a", "n0", GuestState.RUNNING, null));
        assertTrue(rejected(new MigrateVm("a", "n0", "begin")).message().contains("another node"));
        applied(new MigrateVm("a", "n1", "begin"));
        assertTrue(rejected(new MigrateVm("a", "n1", "begin")).message().contains("already"));
        assertTrue(rejected(new SetVmDesired("a", DesiredState.STOPPED, null)).message().contains("migrating"));
        applied(new ReportVmStatus("a", "n1", GuestState.PAUSED, "incoming"));
        assertEquals(GuestState.RUNNING, machine.state().vms().require("a").phase(), "the destination does not speak for the VM yet");
        applied(new MigrateVm("a", "n1", "abort"));
        assertEquals("n0", machine.state().vms().require("a").node());
        applied(new MigrateVm("a", "n1", "begin"));
        applied(new MigrateVm("a", "n1", "complete"));
        assertEquals("n1", machine.state().vms().require("a").node());
        assertNull(machine.state().vms().require("a").migratingTo());
        assertTrue(rejected(new ReportVmStatus("a", "n0", GuestState.RUNNING, null)).message().contains("placed on n1"));
        applied(new MigrateVm("a", "n0", "begin"));
        applied(new RemoveNode("n0", "gone"));
        assertNull(machine.state().vms().require("a").migratingTo(), "a destination that left ends the migration");
    }

    @Test
    void aVmIsRecoveredOnlyFromANodeThatIsDownAndFencedOntoOneThatIsUpAndNeverTwice() {
        applied(new DefineVm(vm("a", 512, "vg/web", null), false));
        assertTrue(rejected(new fivenines.model.command.SetVmHa("a", true, 2000, null)).message().contains("0 to 1000"));
        var on = (VmRecord) applied(new fivenines.model.command.SetVmHa("a", true, 7, "web"));
        assertEquals(fivenines.model.ha.HaState.STARTED, on.ha().state());
        assertEquals(7, on.definition().priority());
        applied(new SetVmDesired("a", DesiredState.RUNNING, "n1"));
        var recover = new fivenines.model.command.RecoverVm("a", "n1", "n0", fivenines.model.ha.HaState.RECOVERING, null);
        assertTrue(rejected(recover).message().contains("is up"));
        applied(new fivenines.model.command.RenewLease("n1"));
        applied(new fivenines.model.command.SetNodeState("n1", fivenines.model.cluster.NodeState.DOWN));
        assertTrue(rejected(new fivenines.model.command.RenewLease("n1")).message().contains("lease is gone"));
        assertTrue(rejected(recover).message().contains("not fenced"));
        assertTrue(rejected(new SetVmDesired("a", DesiredState.RUNNING, null)).message().contains("once that node is fenced"),
            "an operator's start does not move it past the fencing either");
        applied(new fivenines.model.command.RecordFencing("n1", fivenines.model.ha.FenceState.FENCED, "ipmi: off"));
        assertTrue(rejected(new fivenines.model.command.RecoverVm("a", "n0", "n1", fivenines.model.ha.HaState.RECOVERING, null))
            .message().contains("placed on n1"));
        assertTrue(rejected(new fivenines.model.command.RecoverVm("a", "n1", "w", fivenines.model.ha.HaState.RECOVERING, null))
            .message().contains("witness"));
        var moved = (VmRecord) applied(recover);
        assertEquals("n0", moved.node());
        assertEquals(GuestState.STARTING, moved.phase());
        assertEquals(fivenines.model.ha.HaState.RECOVERING, moved.ha().state());
        assertEquals(1, moved.ha().relocations());
        assertTrue(rejected(recover).message().contains("placed on n0"), "a second recovery from the old node is refused");
        applied(new ReportVmStatus("a", "n0", GuestState.RUNNING, null));
        assertEquals(fivenines.model.ha.HaState.STARTED, machine.state().vms().require("a").ha().state());
        applied(new fivenines.model.command.SetNodeState("n1", fivenines.model.cluster.NodeState.UP));
        assertTrue(machine.state().fencing().of("n1").isEmpty(), "a node heard again rejoins clean");
        assertTrue(rejected(new fivenines.model.command.RecordFencing("n1", fivenines.model.ha.FenceState.ACKNOWLEDGED, null))
            .message().contains("is up"));
        applied(new fivenines.model.command.SetVmHa("a", false, null, null));
        assertNull(machine.state().vms().require("a").ha());
        assertTrue(rejected(new fivenines.model.command.RecoverVm("a", "n0", null, fivenines.model.ha.HaState.ERROR, "x"))
            .message().contains("HA off"));
    }

    @Test
    void aDefinitionWithoutTheHaFieldReadsAsHaOff() {
        var old = Json.read("{\"name\":\"a\",\"memoryMib\":128,\"vcpus\":1,\"disks\":[],\"nics\":[],\"priority\":0}"
            .getBytes(java.nio.charset.StandardCharsets.UTF_8), VmDefinition.class);
        assertEquals(Boolean.FALSE, old.ha(), "clients and snapshots from before HA give no 'ha'");
    }

    @Test
    void stateRoundTripsThroughASnapshot() {
        applied(new DefineVm(vm("a", 512, "vg/web", "52:54:00:00:00:09"), false));
        applied(new SetVmDesired("a", DesiredState.RUNNING, null));
        applied(new fivenines.model.command.SetVmHa("a", true, 3, null));
        applied(new fivenines.model.command.SetNodeState("n1", fivenines.model.cluster.NodeState.DOWN));
        applied(new fivenines.model.command.RecordFencing("n1", fivenines.model.ha.FenceState.WAITING_FOR_ACK, "fence_manual"));
        applied(new SetMaintenance("n1", true, List.of("a")));
        var restored = new ClusterState();
        restored.restore(Json.read(Json.text(machine.state().snapshot()), ClusterState.Snapshot.class));
        assertEquals(Json.text(machine.state().snapshot()), Json.text(restored.snapshot()));
    }

    @Test
    void aNodeInMaintenanceTakesNoNewVmAndRemembersWhatLeftIt() {
        applied(new DefineVm(vm("a", 512, "vg/web", null), false));
        applied(new DefineVm(vm("b", 512, "vg/db", null), false));
        applied(new SetVmDesired("a", DesiredState.RUNNING, "n0"));
        applied(new SetVmDesired("b", DesiredState.RUNNING, "n0"));
        applied(new SetVmDesired("b", DesiredState.STOPPED, null));
        var marked = (NodeMaintenance) applied(new SetMaintenance("n0", true, List.of("a")));
        assertEquals(List.of("a"), marked.returning());
        applied(new SetMaintenance("n0", true, List.of("b", "a")));
        assertEquals(List.of("a", "b"), machine.state().maintenance().of("n0").orElseThrow().returning(), "enabling again adds");
        assertTrue(rejected(new SetVmDesired("b", DesiredState.RUNNING, "n0")).message().contains("in maintenance"));
        assertEquals("n1", ((VmRecord) applied(new SetVmDesired("b", DesiredState.RUNNING, null))).node(),
            "a stopped VM last placed on a node in maintenance starts elsewhere");
        applied(new MigrateVm("a", "n1", "begin"));
        applied(new MigrateVm("a", "n1", "complete"));
        assertTrue(rejected(new MigrateVm("a", "n0", "begin")).message().contains("nines node maintenance disable n0"));
        assertEquals("n1", ((VmRecord) applied(new SetVmDesired("a", DesiredState.RUNNING, null))).node(),
            "a running VM stays where it runs");
        var ended = (NodeMaintenance) applied(new SetMaintenance("n0", false, List.of()));
        assertEquals(List.of("a", "b"), ended.returning());
        assertTrue(machine.state().maintenance().of("n0").isEmpty());
        applied(new MigrateVm("a", "n0", "begin"));
    }

    @Test
    void maintenanceIsRefusedForTheLastNodeAWitnessAnUnknownNodeOrANodeNotInIt() {
        String before = Json.text(machine.state().snapshot());
        assertTrue(rejected(new SetMaintenance("n9", true, List.of())).message().contains("n9"));
        assertTrue(rejected(new SetMaintenance("w", true, List.of())).message().contains("witness"));
        assertTrue(rejected(new SetMaintenance("n0", false, List.of())).message().contains("not in maintenance"));
        applied(new SetMaintenance("n1", true, List.of()));
        assertTrue(rejected(new SetMaintenance("n0", true, List.of())).message().contains("last node that is up"));
        applied(new SetMaintenance("n1", false, List.of()));
        assertEquals(before.replaceAll("\"appliedIndex\":\\d+", ""), Json.text(machine.state().snapshot())
            .replaceAll("\"appliedIndex\":\\d+", ""));
    }
}
