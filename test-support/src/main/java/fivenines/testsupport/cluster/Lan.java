package fivenines.testsupport.cluster;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A small network for agents that can be cut for real: one network namespace per node, each
 * with a veth on a bridge in the test's own namespace (which reaches every node, as clients on
 * the nodes themselves would). A cut between two nodes is a blackhole route on each side, so
 * they drop each other's packets while the test still reaches both.
 */
public final class Lan implements AutoCloseable {
    private final String id;
    private final int subnet;
    private final int nodes;
    private final List<String> cuts = new ArrayList<>();

    /** Builds {@code nodes} namespaces on a bridge; {@code subnet} picks 10.211.SUBNET.0/24. Needs root. */
    public Lan(String id, int subnet, int nodes) throws IOException {
        if (!id.matches("[a-z0-9]{1,6}")) {
            throw new IllegalArgumentException("a LAN id is 1 to 6 lowercase letters or digits, not '" + id + "'");
        }
        this.id = id;
        this.subnet = subnet;
        this.nodes = nodes;
        close(); // what a killed earlier run left
        ip("link", "add", bridge(), "type", "bridge");
        ip("addr", "add", "10.211." + subnet + ".254/24", "dev", bridge());
        ip("link", "set", bridge(), "up");
        for (int i = 0; i < nodes; i++) {
            String ns = namespace(i);
            ip("netns", "add", ns);
            ip("link", "add", "nl" + id + "h" + i, "type", "veth", "peer", "name", "nl" + id + "n" + i);
            ip("link", "set", "nl" + id + "n" + i, "netns", ns);
            ip("link", "set", "nl" + id + "h" + i, "master", bridge());
            ip("link", "set", "nl" + id + "h" + i, "up");
            ip("netns", "exec", ns, "ip", "addr", "add", address(i) + "/24", "dev", "nl" + id + "n" + i);
            ip("netns", "exec", ns, "ip", "link", "set", "nl" + id + "n" + i, "up");
            ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");
        }
    }

    private String bridge() {
        return "nl" + id + "br";
    }

    public String namespace(int node) {
        return "nl" + id + "-" + node;
    }

    public String address(int node) {
        return "10.211." + subnet + "." + (node + 1);
    }

    public int size() {
        return nodes;
    }

    /** The command run inside node {@code node}'s namespace. */
    public List<String> inside(int node, List<String> command) {
        var wrapped = new ArrayList<>(List.of("ip", "netns", "exec", namespace(node)));
        wrapped.addAll(command);
        return wrapped;
    }

    /** Cuts every link between the two groups of nodes (both directions). */
    public synchronized void cut(List<Integer> side, List<Integer> other) throws IOException {
        for (int a : side) {
            for (int b : other) {
                blackhole(a, b);
                blackhole(b, a);
            }
        }
    }

    private void blackhole(int from, int to) throws IOException {
        ip("netns", "exec", namespace(from), "ip", "route", "add", "blackhole", address(to) + "/32");
        cuts.add(from + ">" + to);
    }

    /** Restores every link cut. */
    public synchronized void heal() throws IOException {
        for (String cut : List.copyOf(cuts)) {
            int from = Integer.parseInt(cut.substring(0, cut.indexOf('>')));
            int to = Integer.parseInt(cut.substring(cut.indexOf('>') + 1));
            ip("netns", "exec", namespace(from), "ip", "route", "del", "blackhole", address(to) + "/32");
            cuts.remove(cut);
        }
    }

    public synchronized boolean cutAnywhere() {
        return !cuts.isEmpty();
    }

    @Override
    public void close() throws IOException {
        for (int i = 0; i < nodes; i++) {
            quietly("netns", "del", namespace(i));
            quietly("link", "del", "nl" + id + "h" + i);
        }
        quietly("link", "del", bridge());
        cuts.clear();
    }

    private static void ip(String... args) throws IOException {
        var command = new ArrayList<>(List.of("ip"));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes());
        try {
            if (process.waitFor() != 0) {
                throw new IOException(String.join(" ", command) + " failed: " + out.strip());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", command), e);
        }
    }

    private static void quietly(String... args) {
        try {
            ip(args);
        } catch (IOException ignored) {
            // not there
        }
    }
}
