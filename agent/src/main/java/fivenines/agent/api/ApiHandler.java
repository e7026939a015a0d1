package fivenines.agent.api;

/** Answers one route; returns an object to send as JSON (null sends {}). */
@FunctionalInterface
public interface ApiHandler {
    Object handle(ApiRequest request) throws Exception;
}
