package fivenines.agent;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.model.codec.Json;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Optional;

/**
 * Where agents on this machine say where they are: {@code ~/.nines/agents/PORT.json} names
 * the API URL and the secret file, so the CLI on the same machine finds its credential
 * without the user pasting it. The folder is readable by its owner only.
 */
public final class LocalAgents {
    private LocalAgents() {
    }

    public static Path folder() {
        String override = System.getenv("NINES_CONFIG_DIR");
        Path base = override != null && !override.isBlank() ? Path.of(override) : Path.of(System.getProperty("user.home"), ".nines");
        return base.resolve("agents");
    }

    static void announce(AgentConfig config, Path secretFile) {
        try {
            Path folder = folder();
            Files.createDirectories(folder);
            Files.setPosixFilePermissions(folder, PosixFilePermissions.fromString("rwx------"));
            Path file = folder.resolve(config.apiPort() + ".json");
            Files.write(file, Json.bytes(Map.of("url", config.apiUrl(), "node", config.nodeName(),
                "dataDir", config.dataDir().toAbsolutePath().toString(),
                "secretFile", secretFile.toAbsolutePath().toString(), "pid", ProcessHandle.current().pid())));
        } catch (IOException | UnsupportedOperationException e) {
            // the CLI then needs NINES_TOKEN; the agent itself works on
            org.slf4j.LoggerFactory.getLogger(LocalAgents.class).warn("cannot write {}: {}", folder(), e.getMessage());
        }
    }

    /** The secret of the agent on this machine that serves {@code url}, if it announced itself. */
    public static Optional<String> secretFor(String url) {
        try {
            URI uri = URI.create(url);
            int port = uri.getPort() < 0 ? AgentConfig.DEFAULT_API_PORT : uri.getPort();
            Path file = folder().resolve(port + ".json");
            if (!Files.isReadable(file)) {
                return Optional.empty();
            }
            JsonNode entry = Json.mapper().readTree(file.toFile());
            Path secret = Path.of(entry.path("secretFile").asText());
            return Files.isReadable(secret) ? Optional.of(Files.readString(secret).strip()) : Optional.empty();
        } catch (IOException | IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
