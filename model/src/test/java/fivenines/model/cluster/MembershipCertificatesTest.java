package fivenines.model.cluster;

import fivenines.model.command.AddNode;
import fivenines.model.command.Command;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.RecordCertificate;
import fivenines.model.command.RemoveNode;
import fivenines.model.state.ClusterState;
import fivenines.model.state.Result;
import fivenines.model.state.StateMachine;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MembershipCertificatesTest {
    private final StateMachine machine = new StateMachine(new ClusterState());
    private long index;

    private Result apply(Command command) {
        return machine.apply(command, ++index);
    }

    private Membership membership() {
        return machine.state().membership();
    }

    @Test
    void onlyEachNodesRecordedCertificateIsAcceptedAndARemovedNodesIsRevoked() {
        apply(new CreateCluster("c", "0".repeat(64), "n0", "10.0.0.1:7600", "10.0.0.1:7601", 5));
        apply(new AddNode("n1", "10.0.0.2:7600", "10.0.0.2:7601", false));
        // before any certificate is recorded (a replica catching up) every one the CA signed is accepted
        assertTrue(membership().acceptsCertificate("n1", "aa"));
        assertInstanceOf(Result.Applied.class, apply(new RecordCertificate("n0", "a0")));
        assertInstanceOf(Result.Applied.class, apply(new RecordCertificate("n1", "a1")));
        assertTrue(membership().acceptsCertificate("n0", "a0"));
        assertTrue(membership().acceptsCertificate("n1", "a1"));
        assertFalse(membership().acceptsCertificate("n1", "a0"), "one node's certificate does not stand for another");
        assertFalse(membership().acceptsCertificate("n2", "b2"), "a name that is not a member is refused");

        // a new certificate replaces the old one, which is revoked
        apply(new RecordCertificate("n1", "a2"));
        assertFalse(membership().acceptsCertificate("n1", "a1"));
        assertInstanceOf(Result.Rejected.class, apply(new RecordCertificate("n1", "a1")), "a revoked serial is not taken back");

        apply(new RemoveNode("n1", "removed by operator"));
        assertFalse(membership().acceptsCertificate("n1", "a2"));
        // the same name joining again needs a new certificate: the old one stays revoked
        apply(new AddNode("n1", "10.0.0.2:7600", "10.0.0.2:7601", false));
        assertInstanceOf(Result.Rejected.class, apply(new RecordCertificate("n1", "a2")));
        assertInstanceOf(Result.Rejected.class, apply(new RecordCertificate("n1", "NOT-HEX")));
        assertInstanceOf(Result.Rejected.class, apply(new RecordCertificate("bad name!", "a9")), "a bad name is refused");
        // a joining node's certificate is recorded just before the node is added
        assertInstanceOf(Result.Applied.class, apply(new RecordCertificate("n9", "a9")));
        apply(new AddNode("n9", "10.0.0.9:7600", "10.0.0.9:7601", false));
        assertTrue(membership().acceptsCertificate("n9", "a9"));

        // the revocations survive a snapshot
        var restored = new Membership();
        restored.restore(membership().snapshot());
        assertFalse(restored.acceptsCertificate("n1", "a2"));
        assertTrue(restored.acceptsCertificate("n0", "a0"));
    }
}
