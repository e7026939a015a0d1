package fivenines.bench.store;

import fivenines.bench.LatencySummary;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * The store with a large state: three replicas, each a {@link ClusterStore} in a process of its
 * own ({@link StoreReplicaMain}) over real Ratis and gRPC on loopback. The state (NODES nodes with
 * their resources, VMS VM definitions, KEYS configuration keys) is built with the store's own
 * commands through the leader's replica (the agents' REST API would take one HTTP request and an
 * agent per node; the commands are the ones the agents submit), several in flight at once. Then
 * CLIENTS clients commit config changes one after the other for SECONDS while snapshots are taken
 * every SNAPSHOT_EVERY log entries; commits that overlap a snapshot being written on the leader are
 * counted apart from the others. Last, a follower is killed (SIGKILL) and started again: the time
 * until it answers a linearizable read, and the log entries it applied, which must be only those
 * after the snapshot it loaded.
 *
 * <p>Usage: LargeStateBench [NODES] [VMS] [KEYS] [SECONDS] [CLIENTS] [SNAPSHOT_EVERY]
 */
public final class LargeStateBench {
    private static final int KEYS_PER_COMMAND = 50;
    private static final int WINDOW = 32;

    /** One replica process and its request line. */
    private static final class Replica implements AutoCloseable {
        final String name;
        final int port;
        final Path dir;
        Process process;
        BufferedReader out;
        Writer in;
        /** From the last start: the JVM's time until main, and ClusterStore.start's, in ms. */
        String[] ready;

        Replica(String name, int port, Path dir) {
            this.name = name;
            this.port = port;
            this.dir = dir;
        }

        String address() {
            return "127.0.0.1:" + port;
        }

        /** Starts the process; returns once the replica answered "ready". */
        void start(String mode, long snapshotEvery, UUID group) throws IOException {
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            var command = new ArrayList<>(List.of(java, "-Xmx1g", "-XX:+UseSerialGC", "--enable-native-access=ALL-UNNAMED",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-Dorg.slf4j.simpleLogger.log.fivenines.store.StoreStateMachine=info",
                "-cp", System.getProperty("java.class.path"), StoreReplicaMain.class.getName(),
                name, Integer.toString(port), dir.toString(), mode, Long.toString(snapshotEvery), group.toString()));
            process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.appendTo(dir.resolveSibling(name + ".log").toFile()))
                .start();
            out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
            String first = out.readLine();
            ready = first == null ? null : first.split(" ");
            if (ready == null || !"ready".equals(ready[0])) {
                throw new IllegalStateException("replica " + name + " did not start (" + first + "); see " + dir.resolveSibling(name + ".log"));
            }
        }

        String ask(String request) throws IOException {
            in.write(request + "\n");
            in.flush();
            String answer = out.readLine();
            if (answer == null || answer.startsWith("error")) {
                throw new IllegalStateException("replica " + name + " answered '" + request + "' with: " + answer
                    + "; see " + dir.resolveSibling(name + ".log"));
            }
            return answer;
        }

        void kill() throws InterruptedException {
            process.destroyForcibly(); // SIGKILL: no snapshot at stop, nothing flushed beyond what Ratis synced
            process.waitFor(30, TimeUnit.SECONDS);
        }

        @Override
        public void close() throws Exception {
            if (process != null && process.isAlive()) {
                try {
                    in.write("quit\n");
                    in.flush();
                } catch (IOException e) {
                    // it went already
                }
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            }
        }
    }

    /** A snapshot as a replica reported it. */
    private record Snapshot(long index, long bytes, long start, long copied, long end) {
        static List<Snapshot> parse(String answer) {
            var list = new ArrayList<Snapshot>();
            String[] words = answer.split(" ");
            for (int i = 1; i < words.length; i++) {
                long[] v = Arrays.stream(words[i].split(",")).mapToLong(Long::parseLong).toArray();
                list.add(new Snapshot(v[0], v[1], v[2], v[3], v[4]));
            }
            return list;
        }

        double writeMillis() {
            return (end - start) / 1e6;
        }

        double heldMillis() {
            return (copied - start) / 1e6;
        }
    }

    public static void main(String[] args) throws Exception {
        int nodes = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        int vms = args.length > 1 ? Integer.parseInt(args[1]) : 5_000;
        int keys = args.length > 2 ? Integer.parseInt(args[2]) : 50_000;
        int seconds = args.length > 3 ? Integer.parseInt(args[3]) : 30;
        int clients = args.length > 4 ? Integer.parseInt(args[4]) : 4;
        long snapshotEvery = args.length > 5 ? Long.parseLong(args[5]) : 1_000;
        Path root = Files.createTempDirectory("nines-large-state-");
        UUID group = UUID.randomUUID();
        var replicas = new ArrayList<Replica>();
        try {
            for (int i = 0; i < 3; i++) {
                replicas.add(new Replica("r" + i, freePort(), root.resolve("r" + i)));
            }
            Replica leader = replicas.get(0);
            leader.start("NEW_GROUP", snapshotEvery, group);
            leader.ask("leader");
            leader.ask("init");
            for (int i = 1; i < 3; i++) {
                replicas.get(i).start("JOIN_GROUP", snapshotEvery, group);
            }
            var members = new StringBuilder("members");
            replicas.forEach(r -> members.append(' ').append(r.name).append('=').append(r.address()));
            leader.ask(members.toString());
            System.err.printf("three replicas up; building %d nodes, %d VMs, %d config keys%n", nodes, vms, keys);

            String[] built = leader.ask("build " + nodes + " " + vms + " " + keys + " " + KEYS_PER_COMMAND + " " + WINDOW).split(" ");
            long buildMillis = Long.parseLong(built[1]);
            int buildCommands = Integer.parseInt(built[2]);
            int snapshotsAfterBuild = Snapshot.parse(leader.ask("snapshots")).size();

            System.err.printf("built in %d ms; %d clients commit for %d s (a snapshot every %d entries)%n", buildMillis, clients,
                seconds, snapshotEvery);
            Path times = root.resolve("commits.txt");
            int committed = Integer.parseInt(leader.ask("commit " + seconds + " " + clients + " " + times).split(" ")[1]);
            List<Snapshot> snapshots = Snapshot.parse(leader.ask("snapshots"));
            List<Snapshot> during = snapshots.subList(Math.min(snapshotsAfterBuild, snapshots.size()), snapshots.size());
            var with = new ArrayList<Long>();
            var without = new ArrayList<Long>();
            for (String line : Files.readAllLines(times)) {
                String[] pair = line.split(" ");
                long start = Long.parseLong(pair[0]);
                long end = Long.parseLong(pair[1]);
                boolean overlaps = during.stream().anyMatch(s -> start < s.end() && end > s.start());
                (overlaps ? with : without).add(end - start);
            }

            // a follower is killed and started again from its disk
            Replica follower = replicas.get(2);
            String[] before = leader.ask("status").split(" ");
            long appliedBefore = Long.parseLong(before[1]);
            long version = Long.parseLong(leader.ask("read").split(" ")[1]);
            for (int i = 0; i < 600 && Long.parseLong(follower.ask("status").split(" ")[1]) < appliedBefore; i++) {
                Thread.sleep(50);
            }
            List<Snapshot> followerSnapshots = Snapshot.parse(follower.ask("snapshots"));
            follower.kill();
            long t0 = System.nanoTime();
            follower.start("RECOVER", snapshotEvery, group);
            long ready = System.nanoTime();
            long read;
            while (true) {
                try {
                    if (Long.parseLong(follower.ask("read").split(" ")[1]) >= version) {
                        read = System.nanoTime();
                        break;
                    }
                } catch (IllegalStateException e) {
                    if (System.nanoTime() - t0 > TimeUnit.SECONDS.toNanos(120)) {
                        throw e;
                    }
                }
                Thread.sleep(20);
            }
            String[] replay = follower.ask("replay").split(" ");
            long snapshotIndex = Long.parseLong(replay[1]);
            long firstApplied = Long.parseLong(replay[2]);
            long replayed = Long.parseLong(replay[3]);
            long loadMillis = Long.parseLong(replay[4]);
            long appliedAfter = Long.parseLong(follower.ask("status").split(" ")[1]);

            var all = new ArrayList<Snapshot>(snapshots);
            Snapshot last = all.getLast();
            double meanWrite = during.stream().mapToDouble(Snapshot::writeMillis).average().orElse(Double.NaN);
            double maxHeld = all.stream().mapToDouble(Snapshot::heldMillis).max().orElse(Double.NaN);
            double meanHeld = during.stream().mapToDouble(Snapshot::heldMillis).average().orElse(Double.NaN);
            System.out.printf(Locale.ROOT, "store with a large state: %d nodes, %d VMs, %d config keys; three replicas, one process each,"
                + " on loopback (machine shared with other work: figures are noisy)%n", nodes, vms, keys);
            row("build: %d commands through the leader's replica, %d in flight".formatted(buildCommands, WINDOW),
                "%d ms (%.0f commands/s)".formatted(buildMillis, buildCommands * 1000.0 / buildMillis));
            row("snapshot size (the last one, index %d)".formatted(last.index()), "%.1f MiB".formatted(last.bytes() / 1048576.0));
            row("snapshot write, mean of %d during the commits".formatted(during.size()), "%.0f ms".formatted(meanWrite));
            row("applies held by each, mean; the longest of all %d".formatted(all.size()), "%.1f ms; %.1f ms".formatted(meanHeld, maxHeld));
            if (with.isEmpty() || without.isEmpty()) {
                row("commits", "%d, %d during a snapshot: too few to compare (longer SECONDS)".formatted(committed, with.size()));
            } else {
                var w = LatencySummary.ofNanos(with.stream().mapToLong(Long::longValue).toArray());
                var wo = LatencySummary.ofNanos(without.stream().mapToLong(Long::longValue).toArray());
                row("commit p50 / p99, no snapshot being written (%d)".formatted(wo.samples()),
                    "%.2f / %.2f ms".formatted(wo.p50Millis(), wo.p99Millis()));
                row("commit p50 / p99, during a snapshot write (%d)".formatted(w.samples()),
                    "%.2f / %.2f ms".formatted(w.p50Millis(), w.p99Millis()));
                row("p99 during / p99 without (1.0x: no stall)", "%.2fx".formatted(w.p99Millis() / wo.p99Millis()));
                row("commits in all, ops/s", "%d, %.0f".formatted(committed, committed / (double) seconds));
            }
            row("follower kill -9 and start: process ready", "%.0f ms".formatted((ready - t0) / 1e6));
            row("  of it: JVM until main; the store's start; its snapshot's load", "%s ms; %s ms; %d ms".formatted(follower.ready[1],
                follower.ready[2], loadMillis));
            row("  until it answers a linearizable read", "%.0f ms".formatted((read - t0) / 1e6));
            row("  snapshot it loaded (its last written: %s)".formatted(followerSnapshots.isEmpty() ? "none"
                : Long.toString(followerSnapshots.getLast().index())), "index %d".formatted(snapshotIndex));
            row("  log entries it replayed (applied index %d)".formatted(appliedAfter),
                "%d (first index %d)".formatted(replayed, firstApplied));
            if (snapshotIndex <= 0) {
                throw new AssertionError("the restarted follower loaded no snapshot: it replayed the whole log");
            }
            if (replayed > 0 && firstApplied <= snapshotIndex) {
                throw new AssertionError("the restarted follower applied index " + firstApplied + ", which its snapshot at "
                    + snapshotIndex + " holds already: it replayed the log before its snapshot");
            }
            if (replayed > appliedAfter - snapshotIndex) {
                throw new AssertionError("the restarted follower applied " + replayed + " entries, more than the "
                    + (appliedAfter - snapshotIndex) + " after its snapshot");
            }
            System.out.println("replay check: only entries after the snapshot were applied (ok)");
        } finally {
            for (Replica r : replicas) {
                try {
                    r.close();
                } catch (Exception e) {
                    System.err.println("closing " + r.name + ": " + e);
                }
            }
            try (var paths = Files.walk(root)) {
                for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private static void row(String what, String figure) {
        System.out.printf(Locale.ROOT, "  %-62s %s%n", what, figure);
    }

    private static int freePort() throws IOException {
        try (var socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
