package fivenines.model.state;

import fivenines.model.codec.Json;
import fivenines.model.command.AttachLogicalVolume;
import fivenines.model.command.Command;
import fivenines.model.command.CommitChunks;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.DetachLogicalVolume;
import fivenines.model.command.RemoveLogicalVolume;
import fivenines.model.command.ReserveChunks;
import fivenines.model.command.SnapshotLogicalVolume;
import fivenines.model.storage.ChunkMapping;
import fivenines.model.storage.ChunkRef;
import fivenines.model.storage.ChunkRun;
import fivenines.model.storage.LogicalVolume;
import fivenines.model.storage.VolumeView;
import fivenines.model.storage.Volumes;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Volumes held as runs and ranges: large volumes stay small in the state, and snapshots of the state load. */
class VolumeRunsTest {
    static final String PV = "00000000-0000-4000-8000-000000000001";
    static final long TIB = 1L << 40;
    private final ClusterState state = new ClusterState();
    private final StateMachine machine = new StateMachine(state);
    private long index;

    private Object applied(Command command) {
        Result result = machine.apply(command, ++index);
        if (result instanceof Result.Rejected r) {
            throw new AssertionError("rejected " + command + ": " + r.message());
        }
        return ((Result.Applied) result).value();
    }

    private void cluster(long pvBytes) {
        applied(new CreateCluster("c", "a".repeat(64), "n0", "127.0.0.1:7600", "127.0.0.1:7601", 3));
        applied(new CreatePhysicalVolume(PV, "n0", "/pv0", pvBytes, 4L << 20, "127.0.0.1:7602", "/run/nbd.sock"));
        applied(new CreateVolumeGroup("vg", List.of(PV)));
    }

    /** Writes chunks {@code from} to {@code to} of the volume as an engine on n0 would: reserve, then commit. */
    @SuppressWarnings("unchecked")
    private void write(String name, long from, long to) {
        applied(new AttachLogicalVolume("vg", name, "n0", false, false));
        long epoch = state.volumes().volume("vg/" + name).orElseThrow().epoch();
        for (long at = from; at < to; ) {
            int count = (int) Math.min(4096, to - at);
            var chunks = (List<ChunkRef>) applied(new ReserveChunks("vg", name, "n0", epoch, count));
            var mappings = new ArrayList<ChunkMapping>();
            for (ChunkRef chunk : chunks) {
                mappings.add(new ChunkMapping(at++, chunk));
            }
            applied(new CommitChunks("vg", name, "n0", epoch, mappings));
        }
        applied(new DetachLogicalVolume("vg", name, null));
    }

    @Test
    void aThickTebibyteIsOneRangeWhenCreatedAndOneRunWhenWrittenInOrder() {
        cluster(2 * TIB);
        applied(new CreateLogicalVolume("vg", "big", TIB, null, false));
        LogicalVolume big = state.volumes().volume("vg/big").orElseThrow();
        assertEquals(1, state.volumes().usedRanges(PV));
        assertEquals(TIB / Volumes.CHUNK_SIZE, state.volumes().pooledChunks(big));
        assertEquals(1, state.snapshot().volumes().pools().get("vg/big").size(), "the pool is one range");
        write("big", 0, 10_000);
        VolumeView view = state.volumes().view("vg/big");
        assertEquals(List.of(new VolumeView.Run(new ChunkRun(0, PV, 0, 10_000), true)), view.runs());
        assertEquals(1, state.volumes().usedRanges(PV));
        assertEquals(TIB / Volumes.CHUNK_SIZE, state.volumes().usedChunks(PV));
    }

    @Test
    void aThickPebibyteIsTakenAsOneRangeWithoutAnEntryPerChunk() {
        // held chunk by chunk, this volume would need 2^30 entries: more heap than a test JVM has
        cluster(2048 * TIB);
        applied(new CreateLogicalVolume("vg", "huge", 1024 * TIB, null, false));
        LogicalVolume huge = state.volumes().volume("vg/huge").orElseThrow();
        assertEquals(1L << 30, state.volumes().pooledChunks(huge));
        assertEquals(1, state.volumes().usedRanges(PV));
        assertEquals(1024 * TIB / (4L << 20), state.volumes().usedExtents(state.storage().requirePhysicalVolume(PV)));
        assertEquals(java.util.Map.of(PV, 1L << 30), state.volumes().chunksByPhysicalVolume(huge));
        applied(new RemoveLogicalVolume("vg", "huge"));
        assertEquals(0, state.volumes().usedChunks(PV));
    }

    @Test
    void aCopyOnWriteInsideARunSplitsTheViewAndRemovingTheSnapshotFreesExactlyTheReplacedChunk() {
        cluster(1L << 30);
        applied(new CreateLogicalVolume("vg", "base", 64L << 20, null, true));
        write("base", 0, 64);
        applied(new SnapshotLogicalVolume("vg", "base", "snap", true, 0));
        long used = state.volumes().usedChunks(PV);
        write("base", 10, 11);
        assertEquals(used + 1, state.volumes().usedChunks(PV), "the copy took one chunk");
        VolumeView origin = state.volumes().view("vg/base");
        assertEquals(List.of(new VolumeView.Run(new ChunkRun(0, PV, 0, 10), false),
            new VolumeView.Run(new ChunkRun(10, PV, 64, 1), true),
            new VolumeView.Run(new ChunkRun(11, PV, 11, 53), false)), origin.runs());
        assertEquals(List.of(new VolumeView.Run(new ChunkRun(0, PV, 0, 64), false)), state.volumes().view("vg/snap").runs());
        applied(new RemoveLogicalVolume("vg", "snap"));
        assertEquals(used, state.volumes().usedChunks(PV), "the snapshot's copy of chunk 10 went back, nothing else");
        assertEquals(List.of(new VolumeView.Run(new ChunkRun(0, PV, 0, 10), true),
            new VolumeView.Run(new ChunkRun(10, PV, 64, 1), true),
            new VolumeView.Run(new ChunkRun(11, PV, 11, 53), true)), state.volumes().view("vg/base").runs());
        // the freed chunk is the first one handed out again
        applied(new CreateLogicalVolume("vg", "next", 4L << 20, null, true));
        applied(new AttachLogicalVolume("vg", "next", "n0", false, false));
        long epoch = state.volumes().volume("vg/next").orElseThrow().epoch();
        assertEquals(List.of(new ChunkRef(PV, 10)), applied(new ReserveChunks("vg", "next", "n0", epoch, 1)));
    }

    @Test
    void aSnapshotOfTheStateWrittenBeforeRunsLoadsWithItsPoolsAndMaps() {
        // the form written before pools were ranges: pool runs numbered by place in the pool, no format field
        String old = """
            {"groups":[{"name":"vg","physicalVolumes":["%s"],"extentSize":4194304,"createdAt":3}],
             "volumes":[{"volumeGroup":"vg","name":"thick","size":8388608,"thin":false,"layer":1,"epoch":2,
              "attachments":[],"readOnly":false,"createdAt":4}],
             "layers":[{"id":1,"top":"vg/thick","children":[],"runs":[{"virtualChunk":0,"physicalVolume":"%s","chunk":0,"count":3}]}],
             "pools":{"vg/thick":[{"virtualChunk":0,"physicalVolume":"%s","chunk":3,"count":5}]},"nextLayer":2}
            """.formatted(PV, PV, PV);
        var restored = new ClusterState();
        restored.volumes().restore(Json.read(old, Volumes.Snapshot.class));
        LogicalVolume thick = restored.volumes().volume("vg/thick").orElseThrow();
        assertEquals(3, restored.volumes().mappedChunks(thick));
        assertEquals(5, restored.volumes().pooledChunks(thick));
        assertEquals(8, restored.volumes().usedChunks(PV));
        assertEquals(Volumes.SNAPSHOT_FORMAT, restored.snapshot().volumes().format(), "written again in the new form");
    }

    @Test
    void aSnapshotOfANewerFormIsRefusedWithWhatToDo() {
        cluster(1L << 30);
        var snapshot = state.snapshot();
        var newer = new Volumes.Snapshot(Volumes.SNAPSHOT_FORMAT + 1, snapshot.volumes().groups(), snapshot.volumes().volumes(),
            snapshot.volumes().layers(), snapshot.volumes().pools(), snapshot.volumes().nextLayer(), snapshot.volumes().mirrors());
        var restored = new ClusterState();
        var failure = assertThrows(IllegalArgumentException.class, () -> restored.volumes().restore(newer));
        assertTrue(failure.getMessage().contains("newer fivenines"), failure.getMessage());
    }
}
