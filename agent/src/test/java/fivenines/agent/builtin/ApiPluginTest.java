package fivenines.agent.builtin;

import fivenines.agent.AgentConfig;
import fivenines.agent.PortUnavailableException;
import fivenines.agent.api.Router;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ApiPluginTest {
    @Test
    void aPortTakenSinceTheCheckIsNamedWhenTheServerBinds() throws Exception {
        try (var taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            int port = taken.getLocalPort();
            var config = new AgentConfig("d", Path.of("/nonexistent"), "127.0.0.1", port, port + 1, port + 2, "127.0.0.1");
            var plugin = new ApiPlugin(config, new Router(), token -> false, null, null);
            var error = assertThrows(PortUnavailableException.class, () -> plugin.start(null));
            assertTrue(error.getMessage().startsWith("port " + port + " (the REST API port) on 127.0.0.1 is in use by another process"),
                error.getMessage());
        }
    }
}
