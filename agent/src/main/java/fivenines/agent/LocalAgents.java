package fivenines.agent;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.pki.TrustedFiles;
import fivenines.model.codec.Json;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

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

    /**
     * Called once the agent serves on its API port. An entry of another live agent on the same
     * port (one listening on another address) is kept: replacing it would give that agent's CLI
     * this agent's secret.
     */
    static void announce(AgentConfig config, Path secretFile) {
        var log = org.slf4j.LoggerFactory.getLogger(LocalAgents.class);
        try {
            Path folder = folder();
            Files.createDirectories(folder);
            Files.setPosixFilePermissions(folder, PosixFilePermissions.fromString("rwx------"));
            Path file = folder.resolve(config.apiPort() + ".json");
            long self = ProcessHandle.current().pid();
            OptionalLong holder = livePidIn(file);
            if (holder.isPresent() && holder.getAsLong() != self) {
                log.warn("{} names another agent that runs (pid {}); it is kept, and the CLI on this machine reaches "
                    + "this agent only with NINES_TOKEN (the secret in {})", file, holder.getAsLong(), secretFile.toAbsolutePath());
                return;
            }
            Path temporary = folder.resolve(config.apiPort() + ".json." + self + ".tmp");
            Files.write(temporary, Json.bytes(Map.of("url", config.apiUrl(), "node", config.nodeName(),
                "dataDir", config.dataDir().toAbsolutePath().toString(),
                "secretFile", secretFile.toAbsolutePath().toString(), "pid", self,
                "trust", TrustedFiles.of(config.dataDir()).stream().map(p -> p.toAbsolutePath().toString()).toList())));
            Files.move(temporary, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | UnsupportedOperationException e) {
            // the CLI then needs NINES_TOKEN; the agent itself works on
            log.warn("cannot write {}: {}", folder(), e.getMessage());
        }
    }

    /** The pid in an entry, if a process of that pid runs and looks like an agent (not a stranger that reused the pid). */
    private static OptionalLong livePidIn(Path file) {
        if (!Files.isReadable(file)) {
            return OptionalLong.empty();
        }
        try {
            JsonNode entry = Json.mapper().readTree(file.toFile());
            return entry.path("pid").canConvertToLong()
                ? liveAgent(entry.path("pid").asLong(), pid -> ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                    .map(p -> p.info().commandLine().orElse("")))
                : OptionalLong.empty();
        } catch (IOException e) {
            return OptionalLong.empty(); // an unreadable entry is replaced
        }
    }

    /**
     * Whether {@code pid} is a live agent, given what runs under it: a command line (empty when
     * the system does not tell) or nothing when no such process runs.
     */
    static OptionalLong liveAgent(long pid, java.util.function.LongFunction<Optional<String>> running) {
        Optional<String> commandLine = running.apply(pid);
        boolean agent = commandLine.isPresent() && (commandLine.get().isEmpty() || commandLine.get().contains("nines"));
        return agent ? OptionalLong.of(pid) : OptionalLong.empty();
    }

    /**
     * What a client of {@code url} trusts: {@code NINES_CA} (PEM files separated by ':'), else the
     * cluster's CA and start-up certificate of the agent on this machine that serves it.
     */
    public static javax.net.ssl.SSLContext trustFor(String url) {
        String env = System.getenv("NINES_CA");
        var files = new java.util.ArrayList<Path>();
        if (env != null && !env.isBlank()) {
            for (String file : env.split(":")) {
                files.add(Path.of(file));
            }
        } else {
            try {
                URI uri = URI.create(url);
                int port = uri.getPort() < 0 ? AgentConfig.DEFAULT_API_PORT : uri.getPort();
                Path file = folder().resolve(port + ".json");
                if (Files.isReadable(file)) {
                    Json.mapper().readTree(file.toFile()).path("trust").forEach(t -> files.add(Path.of(t.asText())));
                }
            } catch (IOException | IllegalArgumentException e) {
                // nothing announced: the JDK's default trust, which knows no cluster CA
            }
        }
        return files.isEmpty() ? null : TrustedFiles.context(files);
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
