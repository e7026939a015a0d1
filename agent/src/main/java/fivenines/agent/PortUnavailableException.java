package fivenines.agent;

/** A port the agent needs is taken (or cannot be bound at all); the message names it, its use and the way out. */
public final class PortUnavailableException extends RuntimeException {
    private final AgentPort port;

    PortUnavailableException(AgentPort port, String message, Throwable cause) {
        super(message, cause);
        this.port = port;
    }

    public AgentPort port() {
        return port;
    }
}
