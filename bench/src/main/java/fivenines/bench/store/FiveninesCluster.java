package fivenines.bench.store;

import fivenines.agent.client.AgentClient;
import fivenines.testsupport.cluster.AgentProcess;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Three real agents on loopback, formed into one cluster: the fivenines side of the store benchmark. */
final class FiveninesCluster implements AutoCloseable {
    final List<AgentProcess> agents = new ArrayList<>();
    final List<AgentClient> clients = new ArrayList<>();
    private final Path root;

    FiveninesCluster() throws IOException {
        root = Files.createTempDirectory("nines-bench-");
        Path config = root.resolve("config");
        for (int i = 0; i < 3; i++) {
            var options = new java.util.ArrayList<>(List.of("-XX:+UseSerialGC", "-Xmx512m"));
            String extra = System.getProperty("nines.bench.agentJvmOptions", "");
            if (!extra.isBlank()) {
                options.addAll(List.of(extra.replace("{name}", "bench" + i).split(" ")));
            }
            agents.add(new AgentProcess("bench" + i, root, config).jvmOptions(options).start());
        }
        for (AgentProcess agent : agents) {
            clients.add(new AgentClient(agent.url(), agent.secret()));
        }
        clients.getFirst().post("/v1/cluster/init", Map.of("name", "bench"));
        String token = agents.getFirst().secret();
        for (int i = 1; i < 3; i++) {
            clients.get(i).post("/v1/cluster/join", Map.of("seed", agents.getFirst().apiAddress(), "token", token));
            clients.set(i, new AgentClient(agents.get(i).url(), token));
        }
    }

    /** The API client of the node that leads the store now. */
    AgentClient leader() {
        String leader = clients.getFirst().get("/v1/cluster/status").path("leader").asText();
        for (int i = 0; i < agents.size(); i++) {
            if (agents.get(i).name.equals(leader)) {
                return clients.get(i);
            }
        }
        throw new IllegalStateException("no leader among " + agents.stream().map(a -> a.name).toList());
    }

    @Override
    public void close() throws Exception {
        for (AgentProcess agent : agents) {
            if (System.getProperty("nines.bench.agentJvmOptions", "").isBlank()) {
                agent.close();
            } else {
                agent.stopGracefully(); // a flight recording asked for by the options is written at a clean exit only
            }
        }
        try (var paths = Files.walk(root)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
