package fivenines.testsupport.cluster;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** A real agent process ({@code java -jar nines.jar agent}) on loopback, for system tests and benchmarks. */
public final class AgentProcess implements AutoCloseable {
    public static final Path JAR = Path.of(System.getProperty("nines.jar", "../cli/target/nines.jar")).toAbsolutePath();
    public static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();

    public final String name;
    public final Path dataDir;
    public final Path configDir;
    public final int apiPort;
    private List<String> jvmOptions = List.of("-XX:+UseSerialGC", "-Xmx256m", "-XX:TieredStopAtLevel=1");
    private Process process;
    private int starts;
    private String host = "127.0.0.1";
    private List<String> namespace = List.of();

    public AgentProcess(String name, Path root, Path configDir) throws IOException {
        this.name = name;
        this.dataDir = root.resolve(name);
        this.configDir = configDir;
        this.apiPort = freePortPair();
    }

    /**
     * Three free consecutive ports: API, Raft and NBD, below the kernel's ephemeral range. A port
     * the kernel handed out as free (bind to 0) comes from that range, and between the check and
     * the agent's own bind, any outgoing connection on the machine may take the next one as its
     * local port: once in CI, node2's Raft port (API + 1) was taken so, and its store could not start.
     */
    private static int freePortPair() throws IOException {
        int[] range = ephemeralRange();
        int low = 10_000;
        int high = Math.max(low + 1000, range[0] - 3); // exclusive: API + 2 stays below the ephemeral range
        var random = java.util.concurrent.ThreadLocalRandom.current();
        for (int attempt = 0; attempt < 200; attempt++) {
            int port = random.nextInt(low, high);
            if (port >= range[0] - 2 && port <= range[1]) {
                continue;
            }
            try (var api = new ServerSocket(port); var raft = new ServerSocket(port + 1); var nbd = new ServerSocket(port + 2)) {
                return port;
            } catch (IOException taken) {
                // try another three
            }
        }
        throw new IOException("no three free consecutive ports on loopback between " + low + " and " + high);
    }

    /** The kernel's ephemeral port range ({@code net.ipv4.ip_local_port_range}); Linux's default when unreadable. */
    static int[] ephemeralRange() {
        try {
            String[] parts = Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim().split("\\s+");
            return new int[] {Integer.parseInt(parts[0]), Integer.parseInt(parts[1])};
        } catch (IOException | RuntimeException e) {
            return new int[] {32768, 60999};
        }
    }

    /**
     * JVM options for the agent. Tests default to a quick-starting JVM (C1 only, small heap);
     * benchmarks want the full JIT.
     */
    public AgentProcess jvmOptions(List<String> options) {
        this.jvmOptions = List.copyOf(options);
        return this;
    }

    /** Runs the agent in node {@code node}'s namespace of {@code lan}, listening on its address there. */
    public AgentProcess on(Lan lan, int node) {
        this.host = lan.address(node);
        this.namespace = lan.inside(node, List.of());
        return this;
    }

    public String apiAddress() {
        return host + ":" + apiPort;
    }

    /** The API's URL: HTTPS when the agent listens beyond loopback (in a namespace of a {@link Lan}). */
    public String url() {
        return (host.startsWith("127.") ? "http://" : "https://") + apiAddress();
    }

    /** What a client of this agent's API trusts: the cluster's CA, and the agent's certificate before it is in a cluster. */
    public List<Path> trustFiles() {
        return List.of(dataDir.resolve("pki/ca-cert.pem"), dataDir.resolve("pki/startup-cert.pem"));
    }

    public AgentProcess start() throws IOException {
        Files.createDirectories(dataDir);
        var command = new ArrayList<String>(namespace);
        command.add(JAVA);
        command.addAll(jvmOptions);
        command.addAll(List.of("-jar", JAR.toString(), "agent", "--name", name, "--data", dataDir.toString(), "--listen", apiAddress()));
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
        // health is open and says only that the agent serves: its certificate is checked by the clients that follow
        var http = java.net.http.HttpClient.newBuilder().version(java.net.http.HttpClient.Version.HTTP_1_1)
            .sslContext(AnyCertificate.context()).connectTimeout(Duration.ofSeconds(2)).build();
        var request = java.net.http.HttpRequest.newBuilder(java.net.URI.create(url() + "/v1/health"))
            .timeout(Duration.ofSeconds(2)).build();
        while (Instant.now().isBefore(deadline)) {
            if (!process.isAlive()) {
                throw new IllegalStateException("agent " + name + " exited with " + process.exitValue() + "; see " + dataDir);
            }
            try {
                if (http.send(request, java.net.http.HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            sleep(100);
        }
        throw new IllegalStateException("agent " + name + " did not answer within " + timeout);
    }

    public String secret() throws IOException {
        return Files.readString(dataDir.resolve("secret")).strip();
    }

    /** Kills the process the hard way: no shutdown hooks, no clean close. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    public void stopGracefully() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(java.util.concurrent.TimeUnit.SECONDS.toMillis(20), java.util.concurrent.TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
        }
    }

    /** Stops the process where it is (SIGSTOP), as a long GC pause or a stalled VM would. */
    public void pause() throws IOException, InterruptedException {
        signal("STOP");
    }

    /** Lets a paused process go on (SIGCONT). */
    public void resume() throws IOException, InterruptedException {
        signal("CONT");
    }

    private void signal(String name) throws IOException, InterruptedException {
        var kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
        if (kill.waitFor() != 0) {
            throw new IOException("kill -" + name + " " + process.pid() + " failed");
        }
    }

    public boolean alive() {
        return process != null && process.isAlive();
    }

    /** Every line the agent logged at ERROR, over all its starts. */
    public List<String> loggedErrors() throws IOException {
        var errors = new ArrayList<String>();
        try (var logs = Files.list(dataDir)) {
            for (Path log : logs.filter(p -> p.getFileName().toString().startsWith("agent-")).toList()) {
                var lines = Files.readAllLines(log);
                for (int i = 0; i < lines.size(); i++) {
                    if (lines.get(i).contains(" ERROR ")) {
                        // the line and the cause under it, so that a failure in CI says why
                        var error = new StringBuilder(lines.get(i));
                        for (int j = i + 1; j < lines.size() && j <= i + 40 && isTraceLine(lines.get(j)); j++) {
                            error.append("\n  ").append(lines.get(j));
                        }
                        errors.add(error.toString());
                    }
                }
            }
        }
        return errors;
    }

    /** The lines the agent logged at WARN or ERROR that mention {@code what}, over all its starts (for a failure's message). */
    public List<String> loggedWarnings(String what) throws IOException {
        return logged(what, false);
    }

    /** The lines the agent logged at INFO, WARN or ERROR that mention {@code what}, over all its starts. */
    public List<String> loggedInfo(String what) throws IOException {
        return logged(what, true);
    }

    private List<String> logged(String what, boolean info) throws IOException {
        var found = new ArrayList<String>();
        try (var logs = Files.list(dataDir)) {
            for (Path log : logs.filter(p -> p.getFileName().toString().startsWith("agent-")).sorted().toList()) {
                for (String line : Files.readAllLines(log)) {
                    if ((line.contains(" WARN ") || line.contains(" ERROR ") || info && line.contains(" INFO "))
                        && line.contains(what)) {
                        found.add(line);
                    }
                }
            }
        }
        return found;
    }

    private static boolean isTraceLine(String line) {
        return line.startsWith("\t") || line.startsWith("Caused by") || line.matches("^[a-z][\\w.$]*(Exception|Error)\\b.*");
    }

    public Map<String, String> cliEnvironment() {
        return Map.of("NINES_CONFIG_DIR", configDir.toString(), "NINES_AGENT", url(),
            "NINES_CA", String.join(":", trustFiles().stream().map(Path::toString).toList()));
    }

    @Override
    public void close() throws InterruptedException {
        if (alive()) {
            kill();
        }
    }

    public static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
