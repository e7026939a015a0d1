package fivenines.model.cluster;

import fivenines.model.codec.Json;
import fivenines.model.command.Command;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.RotateSecret;
import fivenines.model.state.ClusterState;
import fivenines.model.state.Result;
import fivenines.model.state.StateMachine;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MembershipSecretRotationTest {
    private final StateMachine machine = new StateMachine(new ClusterState());
    private long index;
    private static final String A = "a".repeat(64);
    private static final String B = "b".repeat(64);
    private static final String C = "c".repeat(64);

    private Result apply(Command command) {
        return machine.apply(command, ++index);
    }

    private Membership membership() {
        return machine.state().membership();
    }

    @Test
    void aRotationReplacesTheDigestOnlyFromTheCurrentOneAndIsKeptForNodesThatMissedIt() {
        apply(new CreateCluster("c", A, "n0", "10.0.0.1:7600", "10.0.0.1:7601", 5));
        assertInstanceOf(Result.Applied.class, apply(new RotateSecret(A, B, "sealed-b")));
        assertEquals(B, membership().secretSha256());
        // a second rotation computed from the old secret (two operators at once) is refused and changes nothing
        Result late = apply(new RotateSecret(A, C, "sealed-c"));
        assertInstanceOf(Result.Rejected.class, late);
        assertTrue(((Result.Rejected) late).message().contains("rotated meanwhile"), late.toString());
        assertEquals(B, membership().secretSha256());
        // bad input: clear errors, nothing changed
        assertInstanceOf(Result.Rejected.class, apply(new RotateSecret(B, "xyz", "sealed")));
        assertInstanceOf(Result.Rejected.class, apply(new RotateSecret(B, C, "")));
        assertInstanceOf(Result.Rejected.class, apply(new RotateSecret(B, B, "sealed")));
        assertEquals(1, membership().secretRotations().size());
        assertInstanceOf(Result.Applied.class, apply(new RotateSecret(B, C, "sealed-c")));
        assertEquals(2, membership().secretRotations().size());
        assertEquals(A, membership().secretRotations().getFirst().previousSha256());

        // kept through a snapshot
        var copy = new Membership();
        copy.restore(Json.read(Json.bytes(membership().snapshot()), Membership.Snapshot.class));
        assertEquals(C, copy.secretSha256());
        assertEquals(membership().secretRotations(), copy.secretRotations());
    }

    @Test
    void onlyTheLastRotationsAreKept() {
        apply(new CreateCluster("c", A, "n0", "10.0.0.1:7600", "10.0.0.1:7601", 5));
        String before = A;
        for (int i = 0; i < Membership.ROTATIONS_KEPT + 5; i++) {
            String next = String.format("%064x", i + 1);
            assertInstanceOf(Result.Applied.class, apply(new RotateSecret(before, next, "sealed-" + i)));
            before = next;
        }
        assertEquals(Membership.ROTATIONS_KEPT, membership().secretRotations().size());
        assertEquals(before, membership().secretRotations().getLast().secretSha256());
    }
}
