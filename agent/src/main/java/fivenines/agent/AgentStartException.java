package fivenines.agent;

/** The agent did not start, and has released whatever it had taken; the message says why and what to do. */
public final class AgentStartException extends RuntimeException {
    public AgentStartException(String message, Throwable cause) {
        super(message, cause);
    }
}
