package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.client.AgentClient;
import fivenines.agent.client.AgentClientException;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** A real agent process (java -jar nines.jar agent) on loopback. */
final class AgentProcess implements AutoCloseable {
    static final Path JAR = Path.of(System.getProperty("nines.jar", "../cli/target/nines.jar")).toAbsolutePath();
    static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();

    final String name;
    final Path dataDir;
    final Path configDir;
    final int apiPort;
    private Process process;
    private int starts;

    AgentProcess(String name, Path root, Path configDir) throws IOException {
        this.name = name;
        this.dataDir = root.resolve(name);
        this.configDir = configDir;
        this.apiPort = freePortPair();
    }

    /** Two free consecutive ports: API and Raft. */
    private static int freePortPair() throws IOException {
        for (int attempt = 0; attempt < 50; attempt++) {
            int port;
            try (var socket = new ServerSocket(0)) {
                port = socket.getLocalPort();
            }
            if (port >= 65534) {
                continue;
            }
            try (var raft = new ServerSocket(port + 1)) {
                return port;
            } catch (IOException taken) {
                // try another pair
            }
        }
        throw new IOException("no free pair of ports on loopback");
    }

    String apiAddress() {
        return "127.0.0.1:" + apiPort;
    }

    String url() {
        return "http://" + apiAddress();
    }

    AgentProcess start() throws IOException {
        Files.createDirectories(dataDir);
        var command = new ArrayList<>(List.of(JAVA, "-XX:+UseSerialGC", "-Xmx256m", "-XX:TieredStopAtLevel=1",
            "-jar", JAR.toString(), "agent", "--name", name, "--data", dataDir.toString(), "--listen", apiAddress()));
        var builder = new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(dataDir.resolve("agent-" + (++starts) + ".log").toFile()));
        builder.environment().put("NINES_CONFIG_DIR", configDir.toString());
        process = builder.start();
        awaitHealthy(Duration.ofSeconds(60));
        return this;
    }

    private void awaitHealthy(Duration timeout) {
        Instant deadline = Instant.now().plus(timeout);
        var client = new AgentClient(url(), null, Duration.ofSeconds(2));
        while (Instant.now().isBefore(deadline)) {
            if (!process.isAlive()) {
                throw new IllegalStateException("agent " + name + " exited with " + process.exitValue() + "; see " + dataDir);
            }
            try {
                client.get("/v1/health");
                return;
            } catch (AgentClientException e) {
                sleep(100);
            }
        }
        throw new IllegalStateException("agent " + name + " did not answer within " + timeout);
    }

    String secret() throws IOException {
        return Files.readString(dataDir.resolve("secret")).strip();
    }

    AgentClient client() {
        try {
            return new AgentClient(url(), secret());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    JsonNode status() {
        return client().get("/v1/cluster/status");
    }

    /** Kills the process the hard way: no shutdown hooks, no clean close. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    void stopGracefully() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(java.util.concurrent.TimeUnit.SECONDS.toMillis(20), java.util.concurrent.TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
        }
    }

    boolean alive() {
        return process != null && process.isAlive();
    }

    /** Every line the agent logged at ERROR, over all its starts. */
    List<String> loggedErrors() throws IOException {
        var errors = new ArrayList<String>();
        try (var logs = Files.list(dataDir)) {
            for (Path log : logs.filter(p -> p.getFileName().toString().startsWith("agent-")).toList()) {
                Files.readAllLines(log).stream().filter(l -> l.contains(" ERROR ")).forEach(errors::add);
            }
        }
        return errors;
    }

    Map<String, String> cliEnvironment() {
        return Map.of("NINES_CONFIG_DIR", configDir.toString(), "NINES_AGENT", url());
    }

    @Override
    public void close() throws InterruptedException {
        if (alive()) {
            kill();
        }
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
