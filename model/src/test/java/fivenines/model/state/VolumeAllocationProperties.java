package fivenines.model.state;

import fivenines.model.codec.Json;
import fivenines.model.command.AddNode;
import fivenines.model.command.Command;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.ExtendLogicalVolume;
import fivenines.model.command.ExtendVolumeGroup;
import fivenines.model.command.ReduceVolumeGroup;
import fivenines.model.command.RemoveLogicalVolume;
import fivenines.model.command.RenameLogicalVolume;
import fivenines.model.storage.ExtentRef;
import fivenines.model.storage.LogicalVolume;
import fivenines.model.storage.VolumeGroup;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Random volume commands keep allocation exact: no extent used twice, used plus free is the total. */
class VolumeAllocationProperties {
    static final long EXTENT = 4L << 20;
    static final List<String> PVS = List.of(
        "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
        "00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000004");

    static List<Command> setup() {
        var commands = new ArrayList<Command>();
        commands.add(new CreateCluster("c", "a".repeat(64), "n0", "127.0.0.1:7600", "127.0.0.1:7601", 3));
        commands.add(new AddNode("n1", "127.0.0.1:7610", "127.0.0.1:7611", false));
        for (int i = 0; i < PVS.size(); i++) {
            commands.add(new CreatePhysicalVolume(PVS.get(i), "n" + (i % 2), "/pv" + i, (8 + 4L * i) * EXTENT, EXTENT,
                "127.0.0.1:7602", "/run/nbd.sock"));
        }
        commands.add(new CreateVolumeGroup("vg", List.of(PVS.get(0), "n1:/pv1")));
        return commands;
    }

    @Property(tries = 300)
    void allocationStaysExact(@ForAll("sequences") List<Command> commands) {
        var state = new ClusterState();
        var machine = new StateMachine(state);
        long index = 0;
        for (Command command : setup()) {
            assertTrue(machine.apply(command, ++index).applied(), command.toString());
        }
        for (Command command : commands) {
            String before = Json.text(state.snapshot().volumes());
            Result result = machine.apply(command, ++index);
            if (!result.applied()) {
                assertEquals(before, Json.text(state.snapshot().volumes()), "rejected " + command + " changed volumes");
            }
            check(state);
        }
        // a replica restored from a snapshot derives the same used extents
        var restored = new ClusterState();
        restored.restore(Json.read(Json.text(state.snapshot()), ClusterState.Snapshot.class));
        for (String pv : PVS) {
            assertEquals(state.volumes().usedExtents(pv), restored.volumes().usedExtents(pv));
        }
    }

    private static void check(ClusterState state) {
        var seen = new HashSet<ExtentRef>();
        for (LogicalVolume volume : state.volumes().volumes()) {
            VolumeGroup group = state.volumes().requireGroup(volume.volumeGroup());
            assertEquals(volume.size(), volume.extents().size() * group.extentSize());
            for (ExtentRef extent : volume.extents()) {
                assertTrue(seen.add(extent), "extent " + extent + " is used twice");
                assertTrue(group.physicalVolumes().contains(extent.physicalVolume()), "extent outside its group");
                assertTrue(extent.index() < state.storage().requirePhysicalVolume(extent.physicalVolume()).extents());
            }
        }
        for (String pv : PVS) {
            long counted = seen.stream().filter(e -> e.physicalVolume().equals(pv)).count();
            assertEquals(counted, state.volumes().usedExtents(pv), "used extents of " + pv);
        }
        for (VolumeGroup group : state.volumes().groups()) {
            long used = group.physicalVolumes().stream().mapToLong(state.volumes()::usedExtents).sum();
            assertEquals(state.volumes().totalExtents(group, state.storage()), used + state.volumes().freeExtents(group, state.storage()));
        }
    }

    @Provide
    Arbitrary<List<Command>> sequences() {
        Arbitrary<String> names = Arbitraries.of("a", "b", "c", "d");
        Arbitrary<Long> sizes = Arbitraries.longs().between(1, 14 * EXTENT);
        Arbitrary<String> nodes = Arbitraries.of("n0", "n1").injectNull(0.3);
        Arbitrary<Command> create = Combinators.combine(names, sizes, nodes).as((n, s, node) -> new CreateLogicalVolume("vg", n, s, node));
        Arbitrary<Command> extend = Combinators.combine(names, sizes).as((n, s) -> new ExtendLogicalVolume("vg", n, s));
        Arbitrary<Command> remove = names.map(n -> new RemoveLogicalVolume("vg", n));
        Arbitrary<Command> rename = Combinators.combine(names, names).as((n, m) -> new RenameLogicalVolume("vg", n, m));
        Arbitrary<Command> grow = Arbitraries.of(PVS.get(2), PVS.get(3)).map(p -> new ExtendVolumeGroup("vg", List.of(p)));
        Arbitrary<Command> shrink = Arbitraries.of(PVS).map(p -> new ReduceVolumeGroup("vg", List.of(p)));
        return Arbitraries.frequencyOf(Tuple.of(5, create), Tuple.of(3, extend), Tuple.of(3, remove), Tuple.of(1, rename),
            Tuple.of(1, grow), Tuple.of(1, shrink)).list().ofMaxSize(40);
    }
}
