package fivenines.cli;

import fivenines.agent.AgentConfig;
import fivenines.agent.LocalAgents;
import fivenines.agent.client.AgentClient;
import picocli.CommandLine.Option;

/** How a command finds its agent and credential: --agent, NINES_AGENT, or the local default. */
final class AgentOptions {
    @Option(names = "--agent", paramLabel = "URL",
        description = "the agent's API (default: $NINES_AGENT or http://127.0.0.1:" + AgentConfig.DEFAULT_API_PORT
            + "); an https URL is checked against $NINES_CA or the local agent's cluster CA")
    String agent;

    @Option(names = "--credential", paramLabel = "TOKEN", hidden = true,
        description = "the cluster credential (default: $NINES_TOKEN, or read from the local agent's data directory)")
    String token;

    String url() {
        String url = agent != null ? agent : System.getenv("NINES_AGENT");
        if (url == null || url.isBlank()) {
            url = "http://127.0.0.1:" + AgentConfig.DEFAULT_API_PORT;
        }
        if (!url.startsWith("http://") && !url.startsWith("https://")) {
            url = AgentConfig.apiUrlOf(url);
        }
        return url;
    }

    String credential() {
        if (token != null) {
            return token;
        }
        String env = System.getenv("NINES_TOKEN");
        if (env != null && !env.isBlank()) {
            return env.strip();
        }
        return LocalAgents.secretFor(url()).orElse(null);
    }

    AgentClient client() {
        String url = url();
        return new AgentClient(url, credential(), java.time.Duration.ofSeconds(60),
            url.startsWith("https://") ? LocalAgents.trustFor(url) : null);
    }
}
