package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.testsupport.cluster.AgentProcess;

import java.io.IOException;
import java.io.UncheckedIOException;

/** API access to a test agent with its own credential. */
final class Agents {
    private Agents() {
    }

    static AgentClient client(AgentProcess agent) {
        try {
            return new AgentClient(agent.url(), agent.secret());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static JsonNode status(AgentProcess agent) {
        return client(agent).get("/v1/cluster/status");
    }
}
