package fivenines.model.state;

import fivenines.model.cluster.NodeRole;
import fivenines.model.cluster.NodeState;
import fivenines.model.codec.Json;
import fivenines.model.command.AcquireLock;
import fivenines.model.command.AddNode;
import fivenines.model.command.CancelLockWait;
import fivenines.model.command.ChangeConfig;
import fivenines.model.command.Command;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.ReleaseLock;
import fivenines.model.command.RemoveNode;
import fivenines.model.command.RenewLease;
import fivenines.model.command.SetNodeState;
import fivenines.model.lock.LockMode;
import fivenines.model.lock.LockOutcome;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StateMachineTest {
    static final String SECRET = "a".repeat(64);
    private final StateMachine machine = new StateMachine(new ClusterState());
    private long index;

    private Result apply(Command command) {
        return machine.apply(command, ++index);
    }

    private Object applied(Command command) {
        Result result = apply(command);
        if (result instanceof Result.Rejected r) {
            throw new AssertionError("rejected: " + r.message());
        }
        return ((Result.Applied) result).value();
    }

    private Result.Rejected rejected(Command command) {
        return assertInstanceOf(Result.Rejected.class, apply(command));
    }

    private void threeNodeCluster() {
        applied(new CreateCluster("blenke", SECRET, "node0", "127.0.0.1:7600", "127.0.0.1:7601", 5));
        applied(new AddNode("node1", "127.0.0.1:7610", "127.0.0.1:7611", false));
        applied(new AddNode("node2", "127.0.0.1:7620", "127.0.0.1:7621", false));
    }

    @Test
    void commandsBeforeInitAreRefusedWithAHint() {
        Result.Rejected r = rejected(ChangeConfig.set("a", "b"));
        assertEquals(Rejection.Reason.NOT_INITIALIZED, r.reason());
        assertTrue(r.message().contains("nines cluster init"), r.message());
    }

    @Test
    void clusterIsCreatedOnce() {
        threeNodeCluster();
        assertEquals(Rejection.Reason.NOT_INITIALIZED,
            rejected(new CreateCluster("other", SECRET, "x", "127.0.0.1:1", "127.0.0.1:2", 5)).reason());
        assertEquals("blenke", machine.state().membership().clusterName());
    }

    @Test
    void nodesBeyondMaxVotersJoinAsMembersAndArePromotedWhenAVoterLeaves() {
        applied(new CreateCluster("c", SECRET, "n0", "127.0.0.1:7600", "127.0.0.1:7601", 3));
        applied(new AddNode("n1", "127.0.0.1:7610", "127.0.0.1:7611", false));
        applied(new AddNode("n2", "127.0.0.1:7620", "127.0.0.1:7621", false));
        var n3 = (fivenines.model.cluster.Node) applied(new AddNode("n3", "127.0.0.1:7630", "127.0.0.1:7631", false));
        applied(new AddNode("n4", "127.0.0.1:7640", "127.0.0.1:7641", false));
        assertEquals(NodeRole.MEMBER, n3.role());
        assertEquals(3, machine.state().membership().voterCount());
        var removed = (StateMachine.NodeRemoved) applied(new RemoveNode("n1", "leave"));
        assertEquals("n3", removed.promoted().name(), "the longest-serving member is promoted");
        assertEquals(3, machine.state().membership().voterCount());
    }

    @Test
    void downMemberIsNotPromoted() {
        applied(new CreateCluster("c", SECRET, "n0", "127.0.0.1:7600", "127.0.0.1:7601", 1));
        applied(new AddNode("n1", "127.0.0.1:7610", "127.0.0.1:7611", false));
        applied(new AddNode("n2", "127.0.0.1:7620", "127.0.0.1:7621", false));
        applied(new SetNodeState("n1", NodeState.DOWN));
        // n0 is the only voter: it cannot be removed; promote check through a fresh voter
        assertEquals(Rejection.Reason.CONFLICT, rejected(new RemoveNode("n0", "leave")).reason());
    }

    @Test
    void witnessNeedsAFreeVoterSeat() {
        applied(new CreateCluster("c", SECRET, "n0", "127.0.0.1:7600", "127.0.0.1:7601", 1));
        Result.Rejected r = rejected(new AddNode("w", "127.0.0.1:7610", "127.0.0.1:7611", true));
        assertTrue(r.message().contains("witness"), r.message());
    }

    @Test
    void duplicateNodeNameWithOtherAddressIsRefused() {
        threeNodeCluster();
        assertEquals(Rejection.Reason.CONFLICT,
            rejected(new AddNode("node1", "127.0.0.1:9999", "127.0.0.1:9998", false)).reason());
        // the same join again (a retry after a lost reply) is answered the same way
        assertTrue(apply(new AddNode("node1", "127.0.0.1:7610", "127.0.0.1:7611", false)).applied());
    }

    @Test
    void configChangesBumpTheVersionAndCompareAndSetChecksIt() {
        threeNodeCluster();
        assertEquals(1L, applied(ChangeConfig.set("fence.timeout", "30")));
        assertEquals(2L, applied(new ChangeConfig(Map.of("a", "1", "b", "2"), List.of("fence.timeout"), null)));
        assertEquals(Rejection.Reason.VERSION_MISMATCH,
            rejected(new ChangeConfig(Map.of("a", "3"), List.of(), 1L)).reason());
        assertEquals(3L, applied(new ChangeConfig(Map.of("a", "3"), List.of(), 2L)));
        assertEquals(Map.of("a", "3", "b", "2"), machine.state().configuration().values());
    }

    @Test
    void badConfigKeysAndValuesAreRefused() {
        threeNodeCluster();
        rejected(ChangeConfig.set("", "x"));
        rejected(ChangeConfig.set("has space", "x"));
        rejected(ChangeConfig.set("ok", "bell\u0007"));
        rejected(ChangeConfig.unset("never-set"));
        assertEquals(0, machine.state().configuration().version());
    }

    @Test
    void exclusiveLockQueuesOthersAndGrantsInOrder() {
        threeNodeCluster();
        var first = (LockOutcome) applied(new AcquireLock("vg", LockMode.EX, "node0", "a", true));
        assertEquals(LockOutcome.Status.GRANTED, first.status());
        assertEquals(LockOutcome.Status.QUEUED,
            ((LockOutcome) applied(new AcquireLock("vg", LockMode.PR, "node1", "b", true))).status());
        assertEquals(LockOutcome.Status.QUEUED,
            ((LockOutcome) applied(new AcquireLock("vg", LockMode.PR, "node2", "c", true))).status());
        assertEquals(Rejection.Reason.CONFLICT, rejected(new AcquireLock("vg", LockMode.EX, "node2", "d", false)).reason());
        @SuppressWarnings("unchecked")
        var granted = (List<fivenines.model.lock.LockHolder>) applied(new ReleaseLock("vg", "node0", "a"));
        assertEquals(List.of("b", "c"), granted.stream().map(fivenines.model.lock.LockHolder::owner).toList());
        assertEquals(2, machine.state().locks().lock("vg").orElseThrow().holders().size());
    }

    @Test
    void sharedRequestWaitsBehindAWaitingWriter() {
        threeNodeCluster();
        applied(new AcquireLock("l", LockMode.PR, "node0", "r1", true));
        applied(new AcquireLock("l", LockMode.EX, "node1", "w", true));
        var late = (LockOutcome) applied(new AcquireLock("l", LockMode.PR, "node2", "r2", true));
        assertEquals(LockOutcome.Status.QUEUED, late.status(), "a reader must not overtake a waiting writer");
    }

    @Test
    void locksOfANodeDeclaredDownAreReleasedAndPassedOn() {
        threeNodeCluster();
        applied(new AcquireLock("l", LockMode.EX, "node0", "a", true));
        applied(new AcquireLock("l", LockMode.EX, "node1", "b", true));
        applied(new SetNodeState("node0", NodeState.DOWN));
        var lock = machine.state().locks().lock("l").orElseThrow();
        assertTrue(lock.heldBy("node1", "b"));
        assertFalse(lock.heldBy("node0", "a"));
        // refused for the node, not for the lock: "m" is free, and a client told "held" (409) would
        // believe someone holds it (the store's fault test found such a history)
        assertEquals(Rejection.Reason.NODE_DOWN, rejected(new AcquireLock("m", LockMode.EX, "node0", "a", true)).reason());
        assertEquals(Rejection.Reason.NODE_DOWN, rejected(new RenewLease("node0")).reason());
    }

    @Test
    void cancelledWaiterIsForgottenButAGrantedOneKeepsTheLock() {
        threeNodeCluster();
        applied(new AcquireLock("l", LockMode.EX, "node0", "a", true));
        applied(new AcquireLock("l", LockMode.EX, "node1", "b", true));
        assertEquals(true, applied(new CancelLockWait("l", "node1", "b")));
        assertFalse(machine.state().locks().lock("l").orElseThrow().waiting("node1", "b"));
        applied(new AcquireLock("l", LockMode.EX, "node1", "b", true));
        applied(new ReleaseLock("l", "node0", "a"));
        assertEquals(false, applied(new CancelLockWait("l", "node1", "b")), "already granted: the cancel says so");
    }

    @Test
    void leavingNodeReleasesItsLocks() {
        threeNodeCluster();
        applied(new AcquireLock("l", LockMode.EX, "node2", "a", false));
        applied(new RemoveNode("node2", "leave"));
        assertTrue(machine.state().locks().lock("l").isEmpty());
    }

    private static final String PV = "0b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f";

    private static fivenines.model.command.CreatePhysicalVolume pv(String id, String node, String path, long size) {
        return new fivenines.model.command.CreatePhysicalVolume(id, node, path, size, 4L << 20, "127.0.0.1:7602",
            "/var/lib/nines/nbd.sock");
    }

    @Test
    void aNodeDeclaredDownCanNeitherOfferDisksNorTakeAnAttachmentAndNothingChanges() {
        threeNodeCluster();
        applied(pv(PV, "node1", "/dev/md3", 1L << 30));
        applied(new fivenines.model.command.CreateVolumeGroup("vg", List.of(PV)));
        applied(new fivenines.model.command.CreateLogicalVolume("vg", "lv", 64L << 20, null, false));
        applied(new SetNodeState("node2", NodeState.DOWN));
        // refused for the node (503, "did not happen": try again once it is up), not for the volume or the
        // path (409 would say they are in the way)
        var offered = rejected(pv("1b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node2", "/dev/md4", 1L << 30));
        assertEquals(Rejection.Reason.NODE_DOWN, offered.reason());
        assertTrue(offered.message().contains("node2"), offered.message());
        var attached = rejected(new fivenines.model.command.AttachLogicalVolume("vg", "lv", "node2", false, false));
        assertEquals(Rejection.Reason.NODE_DOWN, attached.reason());
        assertTrue(attached.message().contains("vg/lv"), attached.message());
        assertEquals(1, machine.state().storage().physicalVolumes().size());
        assertFalse(machine.state().volumes().volume("vg/lv").orElseThrow().attached());
    }

    @Test
    void physicalVolumesAreValidatedAndUniquePerNodeAndPath() {
        threeNodeCluster();
        var created = (fivenines.model.storage.PhysicalVolume) applied(pv(PV, "node1", "/dev/md3", 1L << 30));
        assertEquals(256, created.extents());
        assertEquals("nbd://127.0.0.1:7602/pv-" + PV, created.nbdUri());
        assertEquals(Rejection.Reason.CONFLICT, rejected(pv("1b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node1", "/dev/md3", 1L << 30)).reason());
        assertEquals(Rejection.Reason.NOT_FOUND, rejected(pv("2b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "ghost", "/dev/md3", 1L << 30)).reason());
        assertEquals(Rejection.Reason.INVALID, rejected(pv("3b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node1", "relative", 1L << 30)).reason());
        assertEquals(Rejection.Reason.INVALID, rejected(pv("4b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node1", "/small", 4L << 20)).reason());
        assertEquals(Rejection.Reason.INVALID, rejected(pv("not-a-uuid", "node1", "/x", 1L << 30)).reason());
        assertEquals(1, machine.state().storage().physicalVolumes().size());
        assertEquals(PV, machine.state().storage().requirePhysicalVolume("node1:/dev/md3").id());
        applied(new fivenines.model.command.RemovePhysicalVolume(PV));
        assertTrue(machine.state().storage().physicalVolumes().isEmpty());
        assertEquals(Rejection.Reason.NOT_FOUND, rejected(new fivenines.model.command.RemovePhysicalVolume(PV)).reason());
    }

    @Test
    void anAoePhysicalVolumeIsNamedByTargetAndInterfaceAndOtherAoePathsAreRefused() {
        threeNodeCluster();
        var created = (fivenines.model.storage.PhysicalVolume) applied(pv(PV, "node1", "aoe:e4.1@eth1", 1L << 30));
        assertEquals("aoe", created.transport());
        assertEquals("node1:aoe:e4.1@eth1", created.displayName());
        assertEquals(PV, machine.state().storage().requirePhysicalVolume("node1:aoe:e4.1@eth1").id());
        assertEquals(Rejection.Reason.CONFLICT, rejected(pv("1b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node1", "aoe:e4.1@eth1", 1L << 30)).reason());
        for (String bad : new String[] {"aoe:e4.1", "aoe:e65535.1@eth1", "aoe:e4.255@eth1", "aoe:4.1@eth1", "aoe:e4.1@",
            "aoe:e4.1@eth/1", "aoe:e4.1@..", "aoe:e4.1@averyveryverylongname"}) {
            var rejection = rejected(pv("2b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node1", bad, 1L << 30));
            assertEquals(Rejection.Reason.INVALID, rejection.reason(), bad);
            assertTrue(rejection.message().contains("aoe:eSHELF.SLOT@IF"), rejection.message());
        }
        assertEquals(1, machine.state().storage().physicalVolumes().size());
        assertEquals("local", ((fivenines.model.storage.PhysicalVolume) applied(pv("3b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node1",
            "/dev/md3", 1L << 30))).transport());
    }

    @Test
    void logicalVolumesTakeExtentsOnThePreferredNodeFirstAndAllOrNothing() {
        threeNodeCluster();
        applied(pv("1b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node1", "/pv", 64L << 20));
        applied(pv("2b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node2", "/pv", 64L << 20));
        applied(new fivenines.model.command.CreateVolumeGroup("vg", List.of("node1:/pv", "node2:/pv")));
        var volume = (fivenines.model.storage.LogicalVolume) applied(
            new fivenines.model.command.CreateLogicalVolume("vg", "web", 80L << 20, "node2"));
        var byPv = machine.state().volumes().chunksByPhysicalVolume(volume);
        assertEquals(80L, byPv.values().stream().mapToLong(Long::longValue).sum());
        assertEquals(64L, byPv.get("2b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f"), "the preferred node's PV is used up first");
        var tooBig = rejected(new fivenines.model.command.CreateLogicalVolume("vg", "db", 64L << 20, null));
        assertTrue(tooBig.message().contains("48 MiB free"), tooBig.message());
        assertTrue(machine.state().volumes().volumes().size() == 1, "a failed create leaves nothing behind");
        assertEquals(Rejection.Reason.CONFLICT, rejected(new fivenines.model.command.ReduceVolumeGroup("vg", List.of("node2:/pv"))).reason());
        assertEquals(Rejection.Reason.CONFLICT, rejected(new fivenines.model.command.RemovePhysicalVolume("2b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f")).reason());
        assertEquals(Rejection.Reason.CONFLICT, rejected(new fivenines.model.command.RemoveVolumeGroup("vg")).reason());
        applied(new fivenines.model.command.RemoveLogicalVolume("vg", "web"));
        assertEquals(128L << 20, machine.state().volumes().freeBytes(machine.state().volumes().requireGroup("vg"), machine.state().storage()));
        applied(new fivenines.model.command.RemoveVolumeGroup("vg"));
    }

    @Test
    void aNodeCannotLeaveWhileItsDiskIsInAGroupAndTakesItsUngroupedDisksWithIt() {
        groupOnTwoNodes();
        applied(pv("3b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node2", "/spare", 64L << 20));
        var refused = rejected(new RemoveNode("node2", RemoveNode.LEFT));
        assertEquals(Rejection.Reason.CONFLICT, refused.reason());
        assertTrue(refused.message().contains("node2:/pv (in volume group 'vg')")
            && refused.message().contains("'nines vg reduce vg node2:/pv'"), refused.message());
        assertTrue(machine.state().membership().node("node2").isPresent(), "a refused leave changes nothing");
        assertEquals(3, machine.state().storage().physicalVolumes().size());

        applied(new fivenines.model.command.ReduceVolumeGroup("vg", List.of("node2:/pv")));
        var removed = (StateMachine.NodeRemoved) applied(new RemoveNode("node2", RemoveNode.LEFT));
        assertEquals(List.of("node2:/pv", "node2:/spare"), removed.forgottenDisks().stream()
            .map(fivenines.model.storage.PhysicalVolume::displayName).sorted().toList());
        assertEquals(List.of("node1:/pv"), machine.state().storage().physicalVolumes().stream()
            .map(fivenines.model.storage.PhysicalVolume::displayName).toList());
    }

    @Test
    void aDeadNodeIsRemovedWithItsGroupedDisksKeptForTheirVolumes() {
        groupOnTwoNodes();
        var removed = (StateMachine.NodeRemoved) applied(new RemoveNode("node2", "removed by operator"));
        assertTrue(removed.forgottenDisks().isEmpty());
        assertEquals(2, machine.state().storage().physicalVolumes().size());
    }

    private void groupOnTwoNodes() {
        threeNodeCluster();
        applied(pv("1b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node1", "/pv", 64L << 20));
        applied(pv("2b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node2", "/pv", 64L << 20));
        applied(new fivenines.model.command.CreateVolumeGroup("vg", List.of("node1:/pv", "node2:/pv")));
    }

    private fivenines.model.storage.LogicalVolume volume(String name) {
        return machine.state().volumes().requireVolume("vg", name);
    }

    @Test
    void attachmentsAreExclusiveUnlessSharedAndEveryNewWriterSetMovesTheEpoch() {
        groupOnTwoNodes();
        applied(new fivenines.model.command.CreateLogicalVolume("vg", "web", 8L << 20, null, true));
        applied(new fivenines.model.command.AttachLogicalVolume("vg", "web", "node1", false, false, "127.0.0.1:7612", "/run/n1.sock"));
        long first = volume("web").epoch();
        assertEquals(1, first);
        applied(new fivenines.model.command.AttachLogicalVolume("vg", "web", "node1", false, false));
        assertEquals(first, volume("web").epoch(), "attaching again where it is attached changes nothing");
        var taken = rejected(new fivenines.model.command.AttachLogicalVolume("vg", "web", "node2", false, false));
        assertEquals(Rejection.Reason.CONFLICT, taken.reason());
        assertTrue(taken.message().contains("--shared"), taken.message());
        applied(new fivenines.model.command.AttachLogicalVolume("vg", "web", "node2", true, false));
        assertEquals(first, volume("web").epoch(), "a shared writer joins the epoch of the one there");
        assertEquals(2, volume("web").attachments().size());
        assertTrue(volume("web").attachments().stream().allMatch(fivenines.model.storage.Attachment::shared));
        applied(new fivenines.model.command.DetachLogicalVolume("vg", "web", "node1"));
        assertEquals(first + 1, volume("web").epoch(), "the writer that left is cut off");
        assertEquals(Rejection.Reason.STALE_EPOCH, rejected(new fivenines.model.command.ReserveChunks("vg", "web", "node1", first, 1)).reason());
        assertEquals(Rejection.Reason.STALE_EPOCH, rejected(new fivenines.model.command.ReserveChunks("vg", "web", "node2", first, 1)).reason(),
            "the writer that stayed must take the new epoch");
        applied(new fivenines.model.command.ReserveChunks("vg", "web", "node2", first + 1, 1));
        applied(new fivenines.model.command.AttachLogicalVolume("vg", "web", "node1", false, true));
        assertEquals(first + 2, volume("web").epoch(), "force takes the volume over with a new epoch");
        assertEquals(List.of("node1"), volume("web").attachments().stream().map(fivenines.model.storage.Attachment::node).toList());
        assertEquals(0, machine.state().volumes().usedChunks("2b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f")
            + machine.state().volumes().usedChunks("1b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f"), "the cut-off writer's reservation is returned");
    }

    @Test
    void aNodeDeclaredDownHasEveryVolumeAttachedThereDetachedAndItsEpochMovedInTheSameCommand() {
        groupOnTwoNodes();
        applied(new fivenines.model.command.CreateLogicalVolume("vg", "web", 8L << 20, null, true));
        applied(new fivenines.model.command.CreateLogicalVolume("vg", "db", 8L << 20, null, true));
        applied(new fivenines.model.command.CreateLogicalVolume("vg", "mail", 8L << 20, null, true));
        applied(new fivenines.model.command.AttachLogicalVolume("vg", "web", "node1", false, false));
        applied(new fivenines.model.command.AttachLogicalVolume("vg", "db", "node1", true, false));
        applied(new fivenines.model.command.AttachLogicalVolume("vg", "db", "node2", true, false));
        applied(new fivenines.model.command.AttachLogicalVolume("vg", "mail", "node2", false, false));
        long web = volume("web").epoch();
        long db = volume("db").epoch();
        long mail = volume("mail").epoch();
        applied(new fivenines.model.command.ReserveChunks("vg", "web", "node1", web, 2));

        applied(new SetNodeState("node1", NodeState.DOWN));

        assertFalse(volume("web").attached(), "the down node's sole attachment is gone");
        assertEquals(web + 1, volume("web").epoch());
        assertEquals(List.of("node2"), volume("db").attachments().stream().map(fivenines.model.storage.Attachment::node).toList(),
            "a shared volume keeps its other writer");
        assertEquals(db + 1, volume("db").epoch(), "and the writer that stays takes a new epoch too");
        assertEquals(mail, volume("mail").epoch(), "a volume not attached on the down node is left alone");
        assertEquals(Rejection.Reason.STALE_EPOCH, rejected(new fivenines.model.command.ReserveChunks("vg", "web", "node1", web, 1)).reason());
        assertEquals(Rejection.Reason.STALE_EPOCH, rejected(new fivenines.model.command.CommitChunks("vg", "web", "node1", web,
            List.of())).reason(), "the fenced node can commit nothing at its old epoch");
        assertEquals(Rejection.Reason.NODE_DOWN, rejected(new fivenines.model.command.AttachLogicalVolume("vg", "web", "node1", false, false)).reason(),
            "nor attach again while it is down");
        applied(new SetNodeState("node1", NodeState.UP));
        assertFalse(volume("web").attached(), "coming back up gives nothing back: it rejoins clean");
    }

    @Test
    void badVolumeRequestsAreRefusedAndChangeNothing() {
        groupOnTwoNodes();
        applied(new fivenines.model.command.CreateLogicalVolume("vg", "web", 8L << 20, null, false));
        applied(new fivenines.model.command.AttachLogicalVolume("vg", "web", "node1", false, false));
        String before = Json.text(machine.state().snapshot().volumes());
        assertEquals(Rejection.Reason.NOT_FOUND, rejected(new fivenines.model.command.AttachLogicalVolume("vg", "web", "ghost", false, false)).reason());
        assertEquals(Rejection.Reason.NOT_FOUND, rejected(new fivenines.model.command.AttachLogicalVolume("vg", "nope", "node1", false, false)).reason());
        assertEquals(Rejection.Reason.INVALID, rejected(new fivenines.model.command.AttachLogicalVolume("vg", "web", "node1", true, false, "no-port", null)).reason());
        assertEquals(Rejection.Reason.CONFLICT, rejected(new fivenines.model.command.DetachLogicalVolume("vg", "web", "node2")).reason());
        assertEquals(Rejection.Reason.CONFLICT, rejected(new fivenines.model.command.RemoveLogicalVolume("vg", "web")).reason());
        assertEquals(Rejection.Reason.CONFLICT, rejected(new fivenines.model.command.RenameLogicalVolume("vg", "web", "www")).reason());
        var snapshotOfAttached = rejected(new fivenines.model.command.SnapshotLogicalVolume("vg", "web", "snap", true, 0));
        assertTrue(snapshotOfAttached.message().contains("taken by that node"), snapshotOfAttached.message());
        assertEquals(Rejection.Reason.INVALID, rejected(new fivenines.model.command.ReserveChunks("vg", "web", "node1", 1, 0)).reason());
        var unreserved = new fivenines.model.storage.ChunkMapping(0, new fivenines.model.storage.ChunkRef("1b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", 60));
        assertEquals(Rejection.Reason.INVALID, rejected(new fivenines.model.command.CommitChunks("vg", "web", "node1", 1, List.of(unreserved))).reason());
        assertEquals(Rejection.Reason.INVALID, rejected(new fivenines.model.command.CreateLogicalVolume("vg", "bad/name", 8L << 20, null, true)).reason());
        assertEquals(Rejection.Reason.INVALID, rejected(new fivenines.model.command.CreateLogicalVolume("vg", "neg", -1, null, true)).reason());
        assertEquals(before, Json.text(machine.state().snapshot().volumes()));
        applied(new fivenines.model.command.SetNodeState("node2", fivenines.model.cluster.NodeState.DOWN));
        assertEquals(Rejection.Reason.NODE_DOWN, rejected(new fivenines.model.command.AttachLogicalVolume("vg", "web", "node2", true, false)).reason(),
            "a node that is down cannot take a volume");
        applied(new fivenines.model.command.RemoveNode("node1", "gone"));
        assertTrue(volume("web").attachments().isEmpty(), "a node that leaves lets go of its volumes");
    }

    @Test
    void aThinVolumeLargerThanItsGroupRunsOutOfSpaceOnlyWhenChunksRunOut() {
        groupOnTwoNodes();
        applied(new fivenines.model.command.CreateLogicalVolume("vg", "big", 1L << 30, null, true));
        applied(new fivenines.model.command.AttachLogicalVolume("vg", "big", "node1", false, false));
        @SuppressWarnings("unchecked")
        var first = (List<fivenines.model.storage.ChunkRef>) applied(new fivenines.model.command.ReserveChunks("vg", "big", "node1", 1, 100));
        assertEquals(100, first.size());
        assertEquals(64, first.stream().filter(c -> c.physicalVolume().startsWith("1b4c")).count(), "the writer's node first");
        @SuppressWarnings("unchecked")
        var rest = (List<fivenines.model.storage.ChunkRef>) applied(new fivenines.model.command.ReserveChunks("vg", "big", "node1", 1, 100));
        assertEquals(28, rest.size(), "what is left, short of the batch");
        var full = rejected(new fivenines.model.command.ReserveChunks("vg", "big", "node1", 1, 1));
        assertEquals(Rejection.Reason.NO_SPACE, full.reason());
        assertTrue(full.message().contains("nines vg extend"), full.message());
    }

    @Test
    void snapshotRoundTripsThroughJson() {
        threeNodeCluster();
        applied(ChangeConfig.set("k", "v"));
        applied(new AcquireLock("l", LockMode.PR, "node1", "a", false));
        applied(pv(PV, "node2", "/srv/pv0", 1L << 30));
        String json = Json.text(machine.state().snapshot());
        var restored = new ClusterState();
        restored.restore(Json.read(json, ClusterState.Snapshot.class));
        assertEquals(json, Json.text(restored.snapshot()));
    }

    @Test
    void commandsRoundTripThroughJson() {
        Command c = new AcquireLock("l", LockMode.EX, "n", "o", true);
        assertEquals(c, Json.read(Json.bytes(c), Command.class));
        Command d = new ChangeConfig(Map.of("a", "b"), List.of("c"), 4L);
        assertEquals(d, Json.read(Json.bytes(d), Command.class));
    }

    @Test
    void aBatchAppliesEachCommandInOrderAtItsEntrysIndexAndARejectedOneChangesOnlyItself() {
        threeNodeCluster();
        long at = ++index;
        List<Result> results = machine.applyBatch(List.of(
            ChangeConfig.set("a", "1"),
            new AcquireLock("l1", LockMode.EX, "node0", "x", false),
            new ChangeConfig(Map.of("b", "2"), List.of(), 99L), // a stale version: refused alone
            new AcquireLock("l2", LockMode.EX, "node1", "y", false),
            ChangeConfig.set("a", "3")), at);
        assertEquals(5, results.size());
        assertTrue(results.get(0).applied());
        assertEquals(Rejection.Reason.VERSION_MISMATCH, assertInstanceOf(Result.Rejected.class, results.get(2)).reason());
        assertTrue(results.get(4).applied());
        results.forEach(r -> assertEquals(at, r instanceof Result.Applied a ? a.index() : ((Result.Rejected) r).index()));
        assertEquals("3", machine.state().configuration().get("a").orElseThrow(), "applied in their order");
        assertFalse(machine.state().configuration().get("b").isPresent());
        var l1 = (LockOutcome) ((Result.Applied) results.get(1)).value();
        assertEquals(at, l1.lock().holders().getFirst().token());
        assertEquals(at, machine.state().appliedIndex());
    }

    @Test
    void aBatchWithTwoCommandsOnOneLockOrACommandThatIsNotBatchedIsRejectedWholeAndChangesNothing() {
        threeNodeCluster();
        long version = machine.state().configuration().version();
        // acquire, release, acquire in one entry would grant one lock twice with one token
        List<Result> twice = machine.applyBatch(List.of(
            ChangeConfig.set("a", "1"),
            new AcquireLock("l", LockMode.EX, "node0", "x", false),
            new ReleaseLock("l", "node0", "x")), ++index);
        twice.forEach(r -> assertEquals(Rejection.Reason.INVALID, assertInstanceOf(Result.Rejected.class, r).reason()));
        assertTrue(((Result.Rejected) twice.getFirst()).message().contains("lock:l"), ((Result.Rejected) twice.getFirst()).message());
        List<Result> other = machine.applyBatch(List.of(ChangeConfig.set("a", "1"), new RemoveNode("node2", "leave")), ++index);
        assertTrue(((Result.Rejected) other.get(1)).message().contains("RemoveNode"), ((Result.Rejected) other.get(1)).message());
        assertEquals(version, machine.state().configuration().version());
        assertTrue(machine.state().locks().lock("l").isEmpty());
        assertEquals(3, machine.state().membership().snapshot().nodes().size());
        assertEquals(index, machine.state().appliedIndex(), "the entry counts as applied");
    }
}
