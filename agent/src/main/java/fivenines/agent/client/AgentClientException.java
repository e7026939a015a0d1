package fivenines.agent.client;

/** An API call that failed; status 0 means no HTTP answer came. */
public final class AgentClientException extends RuntimeException {
    private final int status;
    private final boolean mayHaveHappened;

    public AgentClientException(int status, String message, boolean mayHaveHappened) {
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
}
