package fivenines.manager.fence;

import java.time.Duration;
import java.util.Map;

/** Runs a fence agent once, by the stdin protocol of fence-agents' doc/FenceAgentAPI.md. */
public interface FenceAgent {
    /**
     * @param options every option, one {@code key=value} line each on the agent's standard input
     *                ({@code action} among them)
     */
    Run run(String agent, Map<String, String> options, Duration timeout);

    /** What one run did: its exit status (meaningless when it timed out or could not start) and its words. */
    record Run(int exit, boolean timedOut, String problem, String output, Duration took) {
        public boolean ran() {
            return problem == null && !timedOut;
        }
    }
}
