package fivenines.model.state;

import fivenines.model.codec.Json;
import fivenines.model.command.AddNode;
import fivenines.model.command.AttachLogicalVolume;
import fivenines.model.command.Command;
import fivenines.model.command.CommitChunks;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.DetachLogicalVolume;
import fivenines.model.command.ExtendLogicalVolume;
import fivenines.model.command.ExtendVolumeGroup;
import fivenines.model.command.ReduceVolumeGroup;
import fivenines.model.command.RemoveLogicalVolume;
import fivenines.model.command.RenameLogicalVolume;
import fivenines.model.command.ReserveChunks;
import fivenines.model.command.SnapshotLogicalVolume;
import fivenines.model.storage.ChunkMapping;
import fivenines.model.storage.ChunkRef;
import fivenines.model.storage.LogicalVolume;
import fivenines.model.storage.VolumeGroup;
import fivenines.model.storage.VolumeView;
import fivenines.model.storage.Volumes;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Random create, write, snapshot, extend, rename and remove sequences, on thick and thin volumes,
 * keep space exact (no chunk used twice, used plus free is the total, a chunk is used exactly
 * when some layer or reservation holds it) and every volume reads back its own last writes.
 * Writes go the way a volume engine makes them: in place on own chunks, else reserve a chunk,
 * write it and commit the mapping. The expected contents are kept chunk by chunk, so this also
 * compares the runs the state keeps (merged, split by copies on write, partly freed) with a
 * per-chunk model.
 */
class VolumeAllocationProperties {
    static final long EXTENT = 4L << 20;
    static final long CHUNK = Volumes.CHUNK_SIZE;
    static final List<String> PVS = List.of(
        "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
        "00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000004");

    /** A write of value {@code value} over chunk {@code chunk} of volume {@code name}, made by an engine on n0. */
    record Write(String name, long chunk, int value) {
    }

    static List<Command> setup() {
        var commands = new ArrayList<Command>();
        commands.add(new CreateCluster("c", "a".repeat(64), "n0", "127.0.0.1:7600", "127.0.0.1:7601", 3));
        commands.add(new AddNode("n1", "127.0.0.1:7610", "127.0.0.1:7611", false));
        for (int i = 0; i < PVS.size(); i++) {
            commands.add(new CreatePhysicalVolume(PVS.get(i), "n" + (i % 2), "/pv" + i, (4 + 2L * i) * EXTENT, EXTENT,
                "127.0.0.1:7602", "/run/nbd.sock"));
        }
        commands.add(new CreateVolumeGroup("vg", List.of(PVS.get(0), "n1:/pv1")));
        return commands;
    }

    /** Drives a state machine and a reference model of what each volume holds. */
    static final class World {
        final ClusterState state = new ClusterState();
        final StateMachine machine = new StateMachine(state);
        /** Data on disk: physical chunk -> value. */
        final Map<ChunkRef, Integer> disk = new HashMap<>();
        /** What each volume must read: volume path -> (chunk -> value). */
        final Map<String, Map<Long, Integer>> expected = new HashMap<>();
        /** Volumes that had a snapshot taken (their pools may have paid for copies). */
        final Set<String> snapshotted = new HashSet<>();
        long index;

        Result apply(Command command) {
            return machine.apply(command, ++index);
        }

        void run(Object step) {
            switch (step) {
                case Write w -> write(w);
                case Command c -> command(c);
                default -> throw new IllegalArgumentException(step.toString());
            }
        }

        void command(Command command) {
            String before = Json.text(state.snapshot().volumes());
            Result result = apply(command);
            if (!result.applied()) {
                assertEquals(before, Json.text(state.snapshot().volumes()), "rejected " + command + " changed volumes");
                return;
            }
            switch (command) {
                case CreateLogicalVolume c -> expected.put("vg/" + c.name(), new HashMap<>());
                case RemoveLogicalVolume c -> expected.remove("vg/" + c.name());
                case RenameLogicalVolume c -> {
                    expected.put("vg/" + c.newName(), expected.remove("vg/" + c.name()));
                    if (snapshotted.remove("vg/" + c.name())) {
                        snapshotted.add("vg/" + c.newName());
                    }
                }
                case SnapshotLogicalVolume c -> {
                    expected.put("vg/" + c.snapshot(), new HashMap<>(expected.get("vg/" + c.name())));
                    snapshotted.add("vg/" + c.name());
                }
                default -> { }
            }
        }

        void write(Write w) {
            String path = "vg/" + w.name();
            var volume = state.volumes().volume(path);
            if (volume.isEmpty() || volume.get().readOnly() || w.chunk() >= volume.get().chunks()) {
                return;
            }
            assertTrue(apply(new AttachLogicalVolume("vg", w.name(), "n0", false, false)).applied());
            long epoch = state.volumes().volume(path).orElseThrow().epoch();
            VolumeView view = state.volumes().view(path);
            VolumeView.Located located = view.chunks().get(w.chunk());
            if (located != null && located.own()) {
                disk.put(located.chunk(), w.value());
            } else {
                Result reserved = apply(new ReserveChunks("vg", w.name(), "n0", epoch, 1));
                if (!reserved.applied()) {
                    // out of space: the write fails and nothing the volume holds changes
                    assertEquals(Rejection.Reason.NO_SPACE, ((Result.Rejected) reserved).reason());
                    assertTrue(state.volumes().freeChunks(state.volumes().requireGroup("vg"), state.storage()) == 0);
                    assertTrue(apply(new DetachLogicalVolume("vg", w.name(), null)).applied());
                    return;
                }
                @SuppressWarnings("unchecked")
                ChunkRef fresh = ((List<ChunkRef>) ((Result.Applied) reserved).value()).getFirst();
                assertFalse(disk.containsKey(fresh) && isVisible(fresh), "reserved chunk " + fresh + " is still in use");
                disk.put(fresh, w.value());
                assertTrue(apply(new CommitChunks("vg", w.name(), "n0", epoch, List.of(new ChunkMapping(w.chunk(), fresh)))).applied());
            }
            expected.get(path).put(w.chunk(), w.value());
            assertTrue(apply(new DetachLogicalVolume("vg", w.name(), null)).applied());
        }

        boolean isVisible(ChunkRef chunk) {
            return state.volumes().volumes().stream()
                .anyMatch(v -> state.volumes().view(v.path()).chunks().values().stream().anyMatch(l -> l.chunk().equals(chunk)));
        }

        void check() {
            var used = new HashMap<String, Set<Long>>();
            for (LogicalVolume volume : state.volumes().volumes()) {
                VolumeView view = state.volumes().view(volume.path());
                Map<Long, Integer> want = expected.get(volume.path());
                for (long c = 0; c < volume.chunks(); c++) {
                    VolumeView.Located located = view.chunks().get(c);
                    // an unmapped chunk reads as zeroes, like a fresh one
                    int got = located == null ? 0 : disk.getOrDefault(located.chunk(), 0);
                    assertEquals(want.getOrDefault(c, 0), got, volume.path() + " chunk " + c);
                }
                assertEquals(view.chunks().size(), state.volumes().mappedChunks(volume));
                view.chunks().values().forEach(l -> used.computeIfAbsent(l.chunk().physicalVolume(), k -> new HashSet<>())
                    .add(l.chunk().chunk()));
                if (volume.thin()) {
                    assertEquals(0, state.volumes().pooledChunks(volume));
                } else {
                    assertTrue(state.volumes().pooledChunks(volume) <= volume.chunks() - view.chunks().size(),
                        "a thick volume holds at most a chunk for each chunk it has not written");
                    if (volume.origin() == null && !snapshotted.contains(volume.path())) {
                        assertEquals(volume.chunks() - view.chunks().size(), state.volumes().pooledChunks(volume),
                            "a thick volume never snapshotted holds a chunk for each chunk it has not written");
                    }
                }
                volume.attachments().forEach(a -> a.reserved().forEach(r -> assertTrue(
                    used.computeIfAbsent(r.physicalVolume(), k -> new HashSet<>()).add(r.chunk()), "reserved chunk also mapped")));
            }
            state.snapshot().volumes().pools().values().forEach(runs -> runs.forEach(run -> {
                for (long i = 0; i < run.count(); i++) {
                    assertTrue(used.computeIfAbsent(run.physicalVolume(), k -> new HashSet<>()).add(run.chunk() + i), "pooled chunk also used");
                }
            }));
            // runs are maximal: no run of a layer continues the one before it (so the runs follow from the mapping alone)
            for (var layer : state.snapshot().volumes().layers()) {
                for (int i = 1; i < layer.runs().size(); i++) {
                    var before = layer.runs().get(i - 1);
                    var run = layer.runs().get(i);
                    assertTrue(before.end() <= run.virtualChunk(), "runs overlap: " + before + ", " + run);
                    assertFalse(before.end() == run.virtualChunk() && before.physicalVolume().equals(run.physicalVolume())
                        && before.chunk() + before.count() == run.chunk(), "runs not merged: " + before + ", " + run);
                }
            }
            for (String pv : PVS) {
                assertEquals(used.getOrDefault(pv, Set.of()).size(), state.volumes().usedChunks(pv),
                    "used chunks of " + pv + " are exactly those some volume can see");
            }
            for (VolumeGroup group : state.volumes().groups()) {
                long inUse = group.physicalVolumes().stream().mapToLong(state.volumes()::usedChunks).sum();
                assertEquals(state.volumes().totalChunks(group, state.storage()), inUse + state.volumes().freeChunks(group, state.storage()));
            }
        }
    }


    /** Found by the property: the chunk the origin's frozen layer held stayed used once no volume could see it. */
    @org.junit.jupiter.api.Test
    void removingASnapshotFreesTheFrozenChunksEveryRemainingBranchHasItsOwnCopyOf() {
        var world = new World();
        for (Command command : setup()) {
            assertTrue(world.apply(command).applied(), command.toString());
        }
        List<Object> steps = List.of(
            new CreateLogicalVolume("vg", "a", 1, null, true),
            new Write("a", 1, 1),
            new SnapshotLogicalVolume("vg", "a", "b", true, 0),
            new SnapshotLogicalVolume("vg", "a", "c", true, 0),
            new Write("a", 1, 1), new Write("c", 1, 1),
            new RemoveLogicalVolume("vg", "b"));
        for (Object step : steps) {
            world.run(step);
            world.check();
        }
        assertEquals(2, world.state.volumes().usedChunks(PVS.get(0)), "a's and c's own copies, nothing else");
    }
    @Property(tries = 1000)
    void spaceStaysExactAndVolumesReadTheirLastWrites(@ForAll("sequences") List<Object> steps) {
        var world = new World();
        for (Command command : setup()) {
            assertTrue(world.apply(command).applied(), command.toString());
        }
        for (Object step : steps) {
            world.run(step);
            world.check();
        }
        // a replica restored from a snapshot derives the same used chunks and maps
        var restored = new ClusterState();
        restored.restore(Json.read(Json.text(world.state.snapshot()), ClusterState.Snapshot.class));
        for (String pv : PVS) {
            assertEquals(world.state.volumes().usedChunks(pv), restored.volumes().usedChunks(pv));
        }
        for (LogicalVolume volume : world.state.volumes().volumes()) {
            assertEquals(world.state.volumes().view(volume.path()), restored.volumes().view(volume.path()));
        }
        assertEquals(Json.text(world.state.snapshot()), Json.text(restored.snapshot()));
        // removing every volume gives every chunk back
        for (LogicalVolume volume : List.copyOf(world.state.volumes().volumes())) {
            assertTrue(world.apply(new RemoveLogicalVolume("vg", volume.name())).applied());
        }
        for (String pv : PVS) {
            assertEquals(0, world.state.volumes().usedChunks(pv), "chunks left on " + pv + " after every volume is gone");
        }
    }

    @Provide
    Arbitrary<List<Object>> sequences() {
        Arbitrary<String> names = Arbitraries.of("a", "b", "c", "d", "e");
        Arbitrary<Long> sizes = Arbitraries.longs().between(1, 10 * EXTENT);
        Arbitrary<String> nodes = Arbitraries.of("n0", "n1").injectNull(0.3);
        Arbitrary<Object> create = Combinators.combine(names, sizes, nodes, Arbitraries.of(true, false))
            .as((n, s, node, thin) -> new CreateLogicalVolume("vg", n, s, node, thin));
        Arbitrary<Object> extend = Combinators.combine(names, sizes).as((n, s) -> new ExtendLogicalVolume("vg", n, s));
        Arbitrary<Object> remove = names.map(n -> new RemoveLogicalVolume("vg", n));
        Arbitrary<Object> rename = Combinators.combine(names, names).as((n, m) -> new RenameLogicalVolume("vg", n, m));
        Arbitrary<Object> snapshot = Combinators.combine(names, names, Arbitraries.of(true, false))
            .as((n, m, writable) -> new SnapshotLogicalVolume("vg", n, m, writable, 0));
        Arbitrary<Object> write = Combinators.combine(names, Arbitraries.longs().between(0, 40), Arbitraries.integers().between(1, 1000))
            .as(Write::new);
        Arbitrary<Object> grow = Arbitraries.of(PVS.get(2), PVS.get(3)).map(p -> new ExtendVolumeGroup("vg", List.of(p)));
        Arbitrary<Object> shrink = Arbitraries.of(PVS).map(p -> new ReduceVolumeGroup("vg", List.of(p)));
        return Arbitraries.frequencyOf(Tuple.of(4, create), Tuple.of(2, extend), Tuple.of(2, remove), Tuple.of(1, rename),
            Tuple.of(3, snapshot), Tuple.of(10, write), Tuple.of(1, grow), Tuple.of(1, shrink)).list().ofMaxSize(60);
    }
}
