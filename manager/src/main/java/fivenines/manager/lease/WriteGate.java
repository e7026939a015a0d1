package fivenines.manager.lease;

/**
 * Whether this node's volume engines may acknowledge writes now (invariant 3): only while it holds
 * its lease, so that a node that cannot renew has stopped acknowledging before its lease ends and
 * the manager moves its guests. Checked on every write, so it must be cheap.
 */
@FunctionalInterface
public interface WriteGate {
    /** Writes are always acknowledged: a node that is in no cluster has no lease to lose. */
    WriteGate OPEN = () -> null;

    /** Null while writes may be acknowledged; otherwise why not. */
    String refusal();

    /** Open while {@code lease} lets the node serve. */
    static WriteGate of(NodeLease lease) {
        return () -> lease.canServe() ? null : java.util.Objects.requireNonNullElse(lease.why(), "no renewal applied yet");
    }
}
