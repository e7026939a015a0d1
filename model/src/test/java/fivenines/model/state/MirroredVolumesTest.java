package fivenines.model.state;

import fivenines.model.codec.Json;
import fivenines.model.command.AddLeg;
import fivenines.model.command.AddNode;
import fivenines.model.command.AttachLogicalVolume;
import fivenines.model.command.Command;
import fivenines.model.command.CommitChunks;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.DetachLogicalVolume;
import fivenines.model.command.DropLeg;
import fivenines.model.command.MarkRegions;
import fivenines.model.command.RemoveLeg;
import fivenines.model.command.RemoveLogicalVolume;
import fivenines.model.command.RepairedRegions;
import fivenines.model.command.ReserveChunks;
import fivenines.model.command.ResyncLeg;
import fivenines.model.command.SetNodeState;
import fivenines.model.command.SnapshotLogicalVolume;
import fivenines.model.command.StartResync;
import fivenines.model.cluster.NodeState;
import fivenines.model.storage.ChunkMapping;
import fivenines.model.storage.ChunkRef;
import fivenines.model.storage.ChunkSpan;
import fivenines.model.storage.Leg;
import fivenines.model.storage.LegState;
import fivenines.model.storage.LogicalVolume;
import fivenines.model.storage.MirrorStatus;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Mirrored volumes in the state: where legs go, how they leave and rejoin the set, and what they missed. */
class MirroredVolumesTest {
    static final String PV0 = "00000000-0000-4000-8000-000000000000";
    static final String PV1 = "00000000-0000-4000-8000-000000000001";
    static final String PV2 = "00000000-0000-4000-8000-000000000002";
    static final String PV3 = "00000000-0000-4000-8000-000000000003";
    static final long MIB = 1L << 20;
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

    private Result.Rejected rejected(Command command) {
        String before = Json.text(state.snapshot().volumes());
        Result result = machine.apply(command, ++index);
        assertTrue(result instanceof Result.Rejected, "expected a rejection of " + command + ", got " + result);
        assertEquals(before, Json.text(state.snapshot().volumes()), "a rejected command changes nothing");
        return (Result.Rejected) result;
    }

    @BeforeEach
    void cluster() {
        applied(new CreateCluster("c", "a".repeat(64), "n0", "127.0.0.1:7600", "127.0.0.1:7601", 3));
        applied(new AddNode("n1", "127.0.0.1:7610", "127.0.0.1:7611", false));
        applied(new AddNode("n2", "127.0.0.1:7620", "127.0.0.1:7621", false));
        applied(new CreatePhysicalVolume(PV0, "n0", "/pv0", 256 * MIB, 4 * MIB, "127.0.0.1:7602", "/run/0.sock"));
        applied(new CreatePhysicalVolume(PV1, "n1", "/pv1", 256 * MIB, 4 * MIB, "127.0.0.1:7612", "/run/1.sock"));
        applied(new CreatePhysicalVolume(PV2, "n2", "/pv2", 128 * MIB, 4 * MIB, "127.0.0.1:7622", "/run/2.sock"));
        applied(new CreateVolumeGroup("vg", List.of(PV0, PV1, PV2)));
    }

    private LogicalVolume volume(String name) {
        return state.volumes().volume("vg/" + name).orElseThrow();
    }

    private long epoch(String name) {
        return volume(name).epoch();
    }

    @Test
    void aThickMirrorTakesItsWholeSizeOnEachOfTwoNodesThePreferredOneFirst() {
        applied(new CreateLogicalVolume("vg", "web", 64 * MIB, "n2", false, 1, null));
        LogicalVolume web = volume("web");
        assertEquals(2, web.legs().size());
        assertEquals("n2", web.legs().get(0).node(), "the preferred node holds the first leg");
        assertEquals("n0", web.legs().get(1).node(), "then the node with the most free space (n0 and n1 tie: by name)");
        assertEquals(64, state.volumes().usedChunks(PV2));
        assertEquals(64, state.volumes().usedChunks(PV0));
        assertEquals(0, state.volumes().usedChunks(PV1));
        assertNotEquals(web.legs().get(0).layer(), web.legs().get(1).layer(), "each leg has its own layers");
    }

    @Test
    void tooManyLegsOrTooLittleSpaceIsRefusedNamingEachNodesFreeSpaceAndChangesNothing() {
        var beyond = rejected(new CreateLogicalVolume("vg", "web", 200 * MIB, null, false, 2, null));
        assertTrue(beyond.message().contains("n2 128 MiB free") && beyond.message().contains("n0 256 MiB free"),
            beyond.message());
        var four = rejected(new CreateLogicalVolume("vg", "web", 8 * MIB, null, true, 3, null));
        assertEquals(Rejection.Reason.INVALID, four.reason());
        applied(new SetNodeState("n2", NodeState.DOWN));
        var down = rejected(new CreateLogicalVolume("vg", "web", 8 * MIB, null, true, 2, null));
        assertTrue(down.message().contains("(down)"), down.message());
    }

    @Test
    void allocAnywherePutsLegsOnDifferentPvsOfOneNode() {
        applied(new CreatePhysicalVolume(PV3, "n0", "/pv3", 128 * MIB, 4 * MIB, "127.0.0.1:7602", "/run/0.sock"));
        applied(new fivenines.model.command.ExtendVolumeGroup("vg", List.of(PV3)));
        applied(new SetNodeState("n1", NodeState.DOWN));
        applied(new SetNodeState("n2", NodeState.DOWN));
        rejected(new CreateLogicalVolume("vg", "web", 32 * MIB, null, false, 1, null));
        applied(new CreateLogicalVolume("vg", "web", 32 * MIB, null, false, 1, true));
        LogicalVolume web = volume("web");
        assertEquals(List.of(PV0, PV3), web.legs().stream().map(Leg::physicalVolume).sorted().toList());
        assertEquals(32, state.volumes().usedChunks(PV0));
        assertEquals(32, state.volumes().usedChunks(PV3));
    }

    @SuppressWarnings("unchecked")
    private void writeThin(String name, int leg, long chunk) {
        var got = (List<ChunkRef>) applied(new ReserveChunks("vg", name, "n0", epoch(name), 1, leg));
        applied(new CommitChunks("vg", name, "n0", epoch(name), List.of(new ChunkMapping(chunk, got.getFirst())), leg));
    }

    @Test
    void aThinMirrorsLegsTakeChunksOnlyOnTheirOwnNodes() {
        applied(new CreateLogicalVolume("vg", "thin", 64 * MIB, "n0", true, 1, null));
        applied(new AttachLogicalVolume("vg", "thin", "n0", false, false));
        writeThin("thin", 0, 3);
        writeThin("thin", 1, 3);
        LogicalVolume thin = volume("thin");
        String node0 = state.storage().requirePhysicalVolume(state.volumes().view("vg/thin", 0).runs().getFirst().run()
            .physicalVolume()).node();
        String node1 = state.storage().requirePhysicalVolume(state.volumes().view("vg/thin", 1).runs().getFirst().run()
            .physicalVolume()).node();
        assertEquals(thin.legs().get(0).node(), node0);
        assertEquals(thin.legs().get(1).node(), node1);
        assertNotEquals(node0, node1);
        // a chunk of another node's PV cannot be committed to a leg
        @SuppressWarnings("unchecked")
        var wrong = (List<ChunkRef>) applied(new ReserveChunks("vg", "thin", "n0", epoch("thin"), 1, 0));
        var refused = rejected(new CommitChunks("vg", "thin", "n0", epoch("thin"), List.of(new ChunkMapping(5, wrong.getFirst())), 1));
        assertTrue(refused.message().contains("not where leg 1"), refused.message());
    }

    @Test
    @SuppressWarnings("unchecked")
    void aThickVolumesWriterReservesNoMoreThanItHasLeftToOwnAndOneAtATimeBeyond() {
        applied(new CreateLogicalVolume("vg", "thick", 8 * MIB, "n0"));
        applied(new AttachLogicalVolume("vg", "thick", "n0", false, false));
        long free = state.volumes().freeChunks(state.volumes().requireGroup("vg"), state.storage());
        var first = (List<ChunkRef>) applied(new ReserveChunks("vg", "thick", "n0", epoch("thick"), 6));
        assertEquals(6, first.size());
        var capped = (List<ChunkRef>) applied(new ReserveChunks("vg", "thick", "n0", epoch("thick"), 16));
        assertEquals(2, capped.size(), "only the two chunks it has left to own");
        assertEquals(free, state.volumes().freeChunks(state.volumes().requireGroup("vg"), state.storage()),
            "nothing was taken from the group beyond the volume's own pool");
        var none = rejected(new ReserveChunks("vg", "thick", "n0", epoch("thick"), 16));
        assertEquals(Rejection.Reason.NO_SPACE, none.reason(), "with no snapshot it needs nothing beyond its own");
    }

    @Test
    void aDroppedLegMissesWhatFailedThereAndWhatIsWrittenAfterAndRejoinsOnlyWhenNothingIsLeft() {
        applied(new CreateLogicalVolume("vg", "web", 64 * MIB, "n0", false, 1, null));
        applied(new AttachLogicalVolume("vg", "web", "n0", false, false));
        long epoch = epoch("web");
        applied(new MarkRegions("vg", "web", "n0", epoch, List.of(new ChunkSpan(8, 4)), List.of(), Map.of()));
        // the last in-sync leg cannot go; a stale writer cannot drop one
        rejected(new DropLeg("vg", "web", "n0", epoch - 1, 1, "timeout", 1000));
        applied(new DropLeg("vg", "web", "n0", epoch, 1, "leg 1 on n1 did not answer in 2 s", 1000,
            List.of(new ChunkSpan(9, 1))));
        assertEquals(epoch + 1, epoch("web"), "dropping a leg moves the epoch");
        var last = rejected(new DropLeg("vg", "web", "n0", epoch + 1, 0, "timeout", 1001));
        assertTrue(last.message().contains("last in-sync leg"), last.message());
        Leg out = volume("web").leg(1).orElseThrow();
        assertEquals(LegState.OUT, out.state());
        assertEquals(1000, out.since());
        assertTrue(out.reason().contains("did not answer"));
        assertTrue(volume("web").degraded());
        assertEquals(List.of(new ChunkSpan(9, 1)), state.volumes().mirrorStatus(volume("web")).missed(1),
            "the chunks the failed write did not put there");
        // writes while it is out are recorded as missed (a leg in the set cannot miss any)
        rejected(new MarkRegions("vg", "web", "n0", epoch + 1, List.of(), List.of(), Map.of(0, List.of(new ChunkSpan(0, 1)))));
        applied(new MarkRegions("vg", "web", "n0", epoch + 1, List.of(new ChunkSpan(20, 4)), List.of(new ChunkSpan(8, 4)),
            Map.of(1, List.of(new ChunkSpan(20, 2)))));
        MirrorStatus status = state.volumes().mirrorStatus(volume("web"));
        assertEquals(List.of(new ChunkSpan(9, 1), new ChunkSpan(20, 2)), status.missed(1));
        assertEquals(3, status.missedChunks(1));
        // resync: start, copy part, refuse to join early, copy the rest, join
        applied(new StartResync("vg", "web", "n0", epoch + 1, 1, 2000));
        applied(new ResyncLeg("vg", "web", "n0", epoch + 1, 1, List.of(new ChunkSpan(8, 2)), false, 2100));
        var early = rejected(new ResyncLeg("vg", "web", "n0", epoch + 1, 1, List.of(), true, 2200));
        assertTrue(early.message().contains("2 chunks left"), early.message());
        applied(new ResyncLeg("vg", "web", "n0", epoch + 1, 1, List.of(new ChunkSpan(20, 2)), true, 2300));
        assertEquals(LegState.IN_SYNC, volume("web").leg(1).orElseThrow().state());
        assertTrue(!volume("web").degraded());
        assertEquals(0, state.volumes().missedChunks(volume("web"), 1));
    }

    @Test
    void aWriterThatGoesAwayLeavesItsOpenRegionsToRepairAndToEveryLegOutOfTheSet() {
        applied(new CreateLogicalVolume("vg", "web", 64 * MIB, "n0", false, 2, null));
        applied(new AttachLogicalVolume("vg", "web", "n0", false, false));
        long epoch = epoch("web");
        applied(new DropLeg("vg", "web", "n0", epoch, 2, "gone", 10));
        applied(new MarkRegions("vg", "web", "n0", epoch + 1, List.of(new ChunkSpan(0, 4), new ChunkSpan(40, 4)), List.of(),
            Map.of()));
        applied(new StartResync("vg", "web", "n0", epoch + 1, 2, 20));
        // the node dies: it is detached through the store alone
        applied(new DetachLogicalVolume("vg", "web", "n0"));
        MirrorStatus status = state.volumes().mirrorStatus(volume("web"));
        assertEquals(List.of(new ChunkSpan(0, 4), new ChunkSpan(40, 4)), status.repair());
        assertEquals(LegState.OUT, volume("web").leg(2).orElseThrow().state(), "a resync without a writer pauses");
        assertTrue(status.missed(2).containsAll(List.of(new ChunkSpan(0, 4), new ChunkSpan(40, 4))), status.missed(2).toString());
        assertTrue(status.active().isEmpty());
        applied(new AttachLogicalVolume("vg", "web", "n1", false, false));
        applied(new RepairedRegions("vg", "web", "n1", epoch("web"), List.of(new ChunkSpan(0, 4))));
        assertEquals(List.of(new ChunkSpan(40, 4)), state.volumes().mirrorStatus(volume("web")).repair());
    }

    @Test
    void convertAddsALegWithEverythingToCopyAndRemovesOneButNeverTheLastInSync() {
        applied(new CreateLogicalVolume("vg", "web", 32 * MIB, "n0", false));
        assertEquals(1, volume("web").legs().size());
        applied(new AddLeg("vg", "web", null, null, null, null, 500));
        LogicalVolume web = volume("web");
        assertEquals(2, web.legs().size());
        assertEquals("n0", web.legs().get(0).node(), "the first leg is bound to the node holding its chunks");
        Leg added = web.legs().get(1);
        assertEquals(LegState.OUT, added.state());
        assertNotEquals("n0", added.node());
        assertEquals(32, state.volumes().mirrorStatus(web).missedChunks(added.index()), "a new leg copies everything");
        var onSame = rejected(new AddLeg("vg", "web", added.node(), null, null, null, 501));
        assertTrue(onSame.message().contains("holds a leg"), onSame.message());
        var lastInSync = rejected(new RemoveLeg("vg", "web", 0));
        assertTrue(lastInSync.message().contains("last in-sync leg"), lastInSync.message());
        long used = state.volumes().usedChunks(PV1) + state.volumes().usedChunks(PV2);
        assertEquals(32, used);
        applied(new RemoveLeg("vg", "web", added.index()));
        assertEquals(0, state.volumes().usedChunks(PV1) + state.volumes().usedChunks(PV2), "its chunks are freed");
        assertEquals(1, volume("web").legs().size());
    }

    @Test
    void aReplacingLegTakesItsPlaceOnceInSync() {
        applied(new CreateLogicalVolume("vg", "web", 16 * MIB, "n0", true, 1, null));
        int old = volume("web").legs().get(1).index();
        applied(new AddLeg("vg", "web", "n2", null, old, null, 100));
        applied(new AttachLogicalVolume("vg", "web", "n0", false, false));
        long epoch = epoch("web");
        int fresh = volume("web").legs().get(2).index();
        applied(new StartResync("vg", "web", "n0", epoch, fresh, 200));
        applied(new ResyncLeg("vg", "web", "n0", epoch, fresh, List.of(new ChunkSpan(0, 16)), true, 300));
        LogicalVolume web = volume("web");
        assertEquals(List.of(0, fresh), web.legs().stream().map(Leg::index).toList(), "the replaced leg left");
        assertEquals("n2", web.leg(fresh).orElseThrow().node());
    }

    @Test
    void aSnapshotOfAMirrorFreezesEveryLegAndRemovingBothFreesEverything() {
        applied(new CreateLogicalVolume("vg", "web", 16 * MIB, "n0", true, 1, null));
        applied(new AttachLogicalVolume("vg", "web", "n0", false, false));
        writeThin("web", 0, 0);
        writeThin("web", 1, 0);
        applied(new SnapshotLogicalVolume("vg", "web", "snap", false, epoch("web")));
        LogicalVolume snap = volume("snap");
        assertEquals(2, snap.legs().size());
        assertEquals(1, state.volumes().view("vg/snap", 0).mappedChunks());
        assertEquals(1, state.volumes().view("vg/snap", 1).mappedChunks());
        // copy on write on each leg
        writeThin("web", 0, 0);
        writeThin("web", 1, 0);
        assertEquals(4, total());
        applied(new DetachLogicalVolume("vg", "web", "n0"));
        applied(new RemoveLogicalVolume("vg", "snap"));
        assertEquals(2, total());
        applied(new RemoveLogicalVolume("vg", "web"));
        assertEquals(0, total());
    }

    private long total() {
        return state.volumes().usedChunks(PV0) + state.volumes().usedChunks(PV1) + state.volumes().usedChunks(PV2);
    }

    @Test
    void legsAndWhatTheyMissedSurviveASnapshotOfTheState() {
        applied(new CreateLogicalVolume("vg", "web", 64 * MIB, "n0", false, 1, null));
        applied(new AttachLogicalVolume("vg", "web", "n0", false, false));
        applied(new DropLeg("vg", "web", "n0", epoch("web"), 1, "gone", 10));
        applied(new MarkRegions("vg", "web", "n0", epoch("web"), List.of(new ChunkSpan(4, 4)), List.of(),
            Map.of(1, List.of(new ChunkSpan(5, 1)))));
        var snapshot = Json.read(Json.bytes(state.snapshot()), ClusterState.Snapshot.class);
        var restored = new ClusterState();
        restored.restore(snapshot);
        assertEquals(Json.text(state.snapshot()), Json.text(restored.snapshot()));
        LogicalVolume web = restored.volumes().volume("vg/web").orElseThrow();
        assertEquals(LegState.OUT, web.leg(1).orElseThrow().state());
        assertEquals(List.of(new ChunkSpan(5, 1)), restored.volumes().mirrorStatus(web).missed(1));
        assertEquals(List.of(new ChunkSpan(4, 4)), restored.volumes().mirrorStatus(web).active().get("n0"));
        assertEquals(128, restored.volumes().usedChunks(PV0) + restored.volumes().usedChunks(PV1)
            + restored.volumes().usedChunks(PV2));
    }
}
