package fivenines.model.state;

/**
 * Thrown while validating a command, before anything changes. The state machine turns it
 * into {@link Result.Rejected}. The operation definitely did not happen.
 */
public final class Rejection extends RuntimeException {

    /** Why a command was refused; the API maps these onto HTTP status codes. */
    public enum Reason {
        /** The command's content is not valid (names, sizes, ranges). */
        INVALID,
        /** It names something that does not exist. */
        NOT_FOUND,
        /** It conflicts with the current state (already exists, held, in use). */
        CONFLICT,
        /** The cluster has not been created yet, or was created already. */
        NOT_INITIALIZED,
        /** A compare-and-set saw another version. */
        VERSION_MISMATCH,
        /** The volume group has no free space for it. */
        NO_SPACE,
        /** The writer's epoch is not the volume's any more: it was cut off by a newer attachment. */
        STALE_EPOCH,
        /**
         * The node it acts for is declared down: nothing is taken from it until the manager hears it
         * again. Not a conflict with what the command names (a lock refused this way may be free).
         */
        NODE_DOWN
    }

    private final Reason reason;

    public Rejection(Reason reason, String message) {
        super(message, null, false, false);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }

    public static Rejection invalid(String message) {
        return new Rejection(Reason.INVALID, message);
    }

    public static Rejection noSpace(String message) {
        return new Rejection(Reason.NO_SPACE, message);
    }

    public static Rejection staleEpoch(String message) {
        return new Rejection(Reason.STALE_EPOCH, message);
    }

    public static Rejection notFound(String message) {
        return new Rejection(Reason.NOT_FOUND, message);
    }

    public static Rejection nodeDown(String message) {
        return new Rejection(Reason.NODE_DOWN, message);
    }

    public static Rejection conflict(String message) {
        return new Rejection(Reason.CONFLICT, message);
    }
}
