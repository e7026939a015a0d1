package fivenines.agent.builtin;

import fivenines.agent.AgentConfig;
import fivenines.agent.AgentPort;
import fivenines.agent.api.ApiServer;
import fivenines.agent.api.Router;
import fivenines.agent.console.WebConsole;
import fivenines.plugin.Health;
import fivenines.plugin.Plugin;
import fivenines.plugin.PluginContext;

import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.util.function.Predicate;

/** The REST API that the CLI, the web UI and other agents use. */
public final class ApiPlugin implements Plugin {
    private final AgentConfig config;
    private final Router router;
    private final Predicate<String> credentialCheck;
    private ApiServer server;

    private final SSLContext tls;
    private final WebConsole console;

    /**
     * @param tls the node's TLS context: the API is HTTPS with it unless it listens on loopback only
     * @param console the web console served beside the API at {@code /}
     */
    public ApiPlugin(AgentConfig config, Router router, Predicate<String> credentialCheck, SSLContext tls, WebConsole console) {
        this.config = config;
        this.router = router;
        this.credentialCheck = credentialCheck;
        this.tls = tls;
        this.console = console;
    }

    @Override
    public String name() {
        return "api";
    }

    @Override
    public String description() {
        return "REST API (JSON) and web console on " + config.apiUrl();
    }

    @Override
    public void start(PluginContext context) throws Exception {
        try {
            server = new ApiServer(config.listenHost(), config.apiPort(), router, credentialCheck,
                config.secureApi() ? tls : null, console);
        } catch (IOException e) {
            if (AgentPort.isBindFailure(e)) {
                throw AgentPort.api(config).unavailable(e);
            }
            throw e;
        }
        server.start();
    }

    @Override
    public void stop() {
        if (server != null) {
            server.close();
            server = null;
        }
    }

    @Override
    public Health health() {
        return server == null ? Health.failed("not listening") : Health.ok("listening on port " + server.port());
    }
}
