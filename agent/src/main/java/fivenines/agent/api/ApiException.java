package fivenines.agent.api;

import fivenines.model.state.Rejection;
import fivenines.model.state.Result;

/**
 * An error the API answers with: an HTTP status, a message that names the thing and the
 * fix, and whether the operation may have happened anyway.
 */
public class ApiException extends RuntimeException {
    private final int status;
    private final boolean mayHaveHappened;

    public ApiException(int status, String message) {
        this(status, message, false);
    }

    public ApiException(int status, String message, boolean mayHaveHappened) {
        super(message, null, false, false);
        this.status = status;
        this.mayHaveHappened = mayHaveHappened;
    }

    public int status() {
        return status;
    }

    public boolean mayHaveHappened() {
        return mayHaveHappened;
    }

    public static ApiException badRequest(String message) {
        return new ApiException(400, message);
    }

    public static ApiException notFound(String message) {
        return new ApiException(404, message);
    }

    public static ApiException conflict(String message) {
        return new ApiException(409, message);
    }

    /** The value of an applied result, or the rejection as an API error. */
    public static Object valueOf(Result result) {
        return switch (result) {
            case Result.Applied applied -> applied.value();
            case Result.Rejected rejected -> throw new ApiException(statusOf(rejected.reason()), rejected.message());
        };
    }

    static int statusOf(Rejection.Reason reason) {
        return switch (reason) {
            case INVALID -> 400;
            case NOT_FOUND -> 404;
            case CONFLICT, NOT_INITIALIZED, VERSION_MISMATCH, STALE_EPOCH -> 409;
            case NO_SPACE -> 507;
            // this node may not act now; the request did not happen and can be tried again once it is up
            case NODE_DOWN -> 503;
        };
    }
}
