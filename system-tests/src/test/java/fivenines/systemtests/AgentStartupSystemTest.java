package fivenines.systemtests;

import fivenines.testsupport.cluster.AgentProcess;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An agent whose ports are taken refuses to start, with one line that names the port, and
 * claims nothing on the way (no data directory, no {@code agents/PORT.json}); one whose
 * request is stuck still stops within seconds.
 */
class AgentStartupSystemTest {
    /** Generous for a JVM start on a busy two-core machine; without the fix such an agent never exits. */
    private static final Duration REFUSAL = Duration.ofSeconds(30);

    @TempDir
    Path dir;
    private Path configDir;
    private final List<AutoCloseable> started = new ArrayList<>();

    @AfterEach
    void stopEverything() throws Exception {
        for (AutoCloseable closeable : started.reversed()) {
            closeable.close();
        }
    }

    private Path configDir() {
        if (configDir == null) {
            configDir = dir.resolve("config");
        }
        return configDir;
    }

    @Test
    void apiPortOfALiveAgentRefusesTheStartAndKeepsThatAgentsEntry() throws Exception {
        AgentProcess live = track(new AgentProcess("live", dir, configDir()).start());
        Path entry = entry(live.apiPort);
        byte[] before = Files.readAllBytes(entry);

        Refusal refusal = startExpectingRefusal("d", "127.0.0.1:" + live.apiPort);

        assertTrue(refusal.output().contains("cannot start agent d: port " + live.apiPort + " (the REST API port) on 127.0.0.1 is in use"),
            refusal.output());
        assertFalse(refusal.output().contains("is up"), refusal.output());
        assertArrayEquals(before, Files.readAllBytes(entry), "the live agent's entry was replaced");
        assertFalse(Files.exists(dir.resolve("d")), "a refused agent made its data directory");
        assertTrue(live.alive());
        var cli = Cli.run(live.cliEnvironment(), "mcp", "plugin", "list");
        assertEquals(0, cli.exit(), "the live agent's CLI lost its credential: " + cli.err());
    }

    @Test
    void raftPortTakenAtStartRefusesTheStart() throws Exception {
        int apiPort = freePorts();
        try (var taken = listen("127.0.0.1", apiPort + 1)) {
            Refusal refusal = startExpectingRefusal("d", "127.0.0.1:" + apiPort);
            assertTrue(refusal.output().contains("cannot start agent d: port " + (apiPort + 1)
                + " (the store's Raft port, API port + 1) on 127.0.0.1 is in use by another process; choose another --listen port"),
                refusal.output());
        }
        assertClaimedNothing("d", apiPort);
    }

    @Test
    void nbdPortTakenAtStartRefusesTheStart() throws Exception {
        int apiPort = freePorts();
        try (var taken = listen("127.0.0.1", apiPort + 2)) {
            Refusal refusal = startExpectingRefusal("d", "127.0.0.1:" + apiPort);
            assertTrue(refusal.output().contains("cannot start agent d: port " + (apiPort + 2)
                + " (the block service's NBD port, API port + 2) on 127.0.0.1 is in use"), refusal.output());
        }
        assertClaimedNothing("d", apiPort);
    }

    @Test
    void raftPortTakenAfterTheStartFailsClusterInitWithTheReasonAndTheAgentGoesOn() throws Exception {
        AgentProcess agent = track(new AgentProcess("d", dir, configDir()).start());
        try (var taken = listen("127.0.0.1", agent.apiPort + 1)) {
            var init = Cli.run(agent.cliEnvironment(), "cluster", "init", "--name", "t");
            assertNotEquals(0, init.exit());
            assertTrue(init.err().contains("port " + (agent.apiPort + 1) + " (the store's Raft port, API port + 1) on 127.0.0.1 is in use"),
                init.err());
        }
        assertTrue(agent.alive(), "Ratis ended the agent's JVM");
        assertFalse(Agents.status(agent).path("inCluster").asBoolean(), "a failed init left the node in a cluster");

        var retry = Cli.run(agent.cliEnvironment(), "cluster", "init", "--name", "t");
        assertEquals(0, retry.exit(), retry.err());
        assertEquals("d", Agents.status(agent).path("leader").asText());
    }

    @Test
    void entryOfAnotherLiveAgentOnTheSamePortIsKept() throws Exception {
        AgentProcess live = track(new AgentProcess("live", dir, configDir()).start());
        Path entry = entry(live.apiPort);
        byte[] before = Files.readAllBytes(entry);

        // the same port on another loopback address: this agent starts, and must leave the entry alone
        Process other = track(launch("other", "127.0.0.2:" + live.apiPort));
        awaitHealthy(other, "http://127.0.0.2:" + live.apiPort);

        assertArrayEquals(before, Files.readAllBytes(entry), "the live agent's entry was replaced");
        var cli = Cli.run(live.cliEnvironment(), "mcp", "plugin", "list");
        assertEquals(0, cli.exit(), "the live agent's CLI lost its credential: " + cli.err());
    }

    @Test
    void sigtermWhileALeaveWaitsForALostQuorumEndsTheAgentWithinSeconds() throws Exception {
        AgentProcess node0 = track(new AgentProcess("node0", dir, configDir()).start());
        AgentProcess node1 = track(new AgentProcess("node1", dir, configDir()).start());
        Agents.client(node0).post("/v1/cluster/init", Map.of("name", "t", "maxVoters", 5));
        Agents.client(node1).post("/v1/cluster/join", Map.of("seed", node0.apiAddress(), "token", node0.secret(), "witness", false));
        Instant deadline = Instant.now().plusSeconds(60);
        while (Agents.status(node0).path("quorum").path("voters").asInt() != 2) {
            assertTrue(Instant.now().isBefore(deadline), "node1 never became a voter: " + Agents.status(node0));
            AgentProcess.sleep(200);
        }
        node1.kill();

        // with one of two voters gone the leave cannot commit: its request holds the cluster
        // service, waiting (not interruptibly) for the store's answer until the request timeout
        var leaving = new CountDownLatch(1);
        Thread.ofVirtual().start(() -> {
            leaving.countDown();
            try {
                Agents.client(node0).post("/v1/cluster/leave", Map.of());
            } catch (RuntimeException expected) {
                // no quorum, or the agent went away under it
            }
        });
        leaving.await();
        AgentProcess.sleep(1500);

        Instant sigterm = Instant.now();
        node0.stopGracefully();
        Duration took = Duration.between(sigterm, Instant.now());

        assertFalse(node0.alive());
        assertTrue(took.compareTo(Duration.ofSeconds(10)) < 0, "the agent took " + took + " to stop");
    }

    private record Refusal(int exit, String output) {
    }

    private Refusal startExpectingRefusal(String name, String listen) throws Exception {
        Process process = track(launch(name, listen));
        if (!process.waitFor(REFUSAL.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("agent " + name + " did not exit within " + REFUSAL + ":\n" + output(name));
        }
        String output = output(name);
        assertNotEquals(0, process.exitValue(), output);
        return new Refusal(process.exitValue(), output);
    }

    private Process launch(String name, String listen) throws IOException {
        var command = List.of(AgentProcess.JAVA, "-XX:+UseSerialGC", "-Xmx256m", "-XX:TieredStopAtLevel=1",
            "-jar", AgentProcess.JAR.toString(), "agent", "--name", name, "--data", dir.resolve(name).toString(), "--listen", listen);
        var builder = new ProcessBuilder(command).redirectErrorStream(true)
            .redirectOutput(dir.resolve(name + ".log").toFile());
        builder.environment().put("NINES_CONFIG_DIR", configDir().toString());
        return builder.start();
    }

    private String output(String name) throws IOException {
        return Files.readString(dir.resolve(name + ".log"));
    }

    private Path entry(int apiPort) {
        return configDir().resolve("agents").resolve(apiPort + ".json");
    }

    private void assertClaimedNothing(String name, int apiPort) {
        assertFalse(Files.exists(entry(apiPort)), "a refused agent wrote " + entry(apiPort));
        assertFalse(Files.exists(dir.resolve(name)), "a refused agent made its data directory");
    }

    /** An API port whose Raft and NBD ports (API + 1, + 2) are free too. */
    private int freePorts() throws IOException {
        return new AgentProcess("probe", dir, configDir()).apiPort;
    }

    private ServerSocket listen(String host, int port) throws IOException {
        var socket = new ServerSocket();
        socket.bind(new InetSocketAddress(InetAddress.getByName(host), port));
        return socket;
    }

    private void awaitHealthy(Process process, String url) throws Exception {
        var http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build();
        var request = HttpRequest.newBuilder(URI.create(url + "/v1/health")).timeout(Duration.ofSeconds(2)).build();
        Instant deadline = Instant.now().plusSeconds(60);
        while (Instant.now().isBefore(deadline)) {
            assertTrue(process.isAlive(), "the agent at " + url + " exited with " + (process.isAlive() ? 0 : process.exitValue()));
            try {
                if (http.send(request, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    // the entry is written right after the API starts answering
                    AgentProcess.sleep(2000);
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            AgentProcess.sleep(100);
        }
        throw new AssertionError("the agent at " + url + " did not answer within 60 s");
    }

    private <T extends AgentProcess> T track(T agent) {
        started.add(agent);
        return agent;
    }

    private Process track(Process process) {
        started.add(() -> {
            process.destroyForcibly();
            process.waitFor();
        });
        return process;
    }
}
