package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.agent.pki.TrustedFiles;
import fivenines.testsupport.cluster.AgentProcess;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;

/** API access to a test agent with its own credential. */
final class Agents {
    private Agents() {
    }

    static AgentClient client(AgentProcess agent) {
        try {
            return client(agent, agent.secret(), Duration.ofSeconds(60));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A client that trusts what the agent's data directory offers (HTTPS off loopback). */
    static AgentClient client(AgentProcess agent, String token, Duration timeout) {
        return new AgentClient(agent.url(), token, timeout, TrustedFiles.context(agent.trustFiles()));
    }

    static JsonNode status(AgentProcess agent) {
        return client(agent).get("/v1/cluster/status");
    }
}
