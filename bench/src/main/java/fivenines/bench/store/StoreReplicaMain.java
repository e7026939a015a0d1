package fivenines.bench.store;

import fivenines.model.command.AddNode;
import fivenines.model.command.ChangeConfig;
import fivenines.model.command.Command;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.DefineVm;
import fivenines.model.command.ReportNodeResources;
import fivenines.model.state.Result;
import fivenines.model.vm.VmDefinition;
import fivenines.store.ClusterStore;
import fivenines.store.SnapshotWritten;
import fivenines.store.StartReplay;
import fivenines.store.StoreConfig;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One store replica in a process of its own, driven line by line on standard input by
 * {@link LargeStateBench}; it answers each line with one line on standard output (a line starting
 * with "error" when the request failed).
 *
 * <p>Usage: StoreReplicaMain NAME RAFT_PORT DATA_DIR NEW_GROUP|JOIN_GROUP|RECOVER SNAPSHOT_EVERY GROUP_UUID
 *
 * <p>Requests: {@code leader}, {@code init}, {@code members NAME=HOST:PORT...},
 * {@code build NODES VMS KEYS KEYS_PER_COMMAND WINDOW}, {@code commit SECONDS CLIENTS FILE},
 * {@code read}, {@code status}, {@code replay}, {@code snapshots}, {@code quit}.
 */
public final class StoreReplicaMain {
    static final byte[] SECRET = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    private final ClusterStore store;
    private final String name;
    private final PrintStream out;

    private StoreReplicaMain(ClusterStore store, String name, PrintStream out) {
        this.store = store;
        this.name = name;
        this.out = out;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: StoreReplicaMain NAME RAFT_PORT DATA_DIR NEW_GROUP|JOIN_GROUP|RECOVER SNAPSHOT_EVERY GROUP_UUID");
            System.exit(2);
        }
        var out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        var config = new StoreConfig(args[0], "127.0.0.1", Integer.parseInt(args[1]), Path.of(args[2]), SECRET,
            Long.parseLong(args[4]), Duration.ofSeconds(30));
        long jvm = java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime();
        long starting = System.nanoTime();
        var store = ClusterStore.start(config, UUID.fromString(args[5]), ClusterStore.Start.valueOf(args[3]));
        // the JVM's time until main, and the store's start (snapshot loaded, log opened, server up)
        out.println("ready " + jvm + " " + (System.nanoTime() - starting) / 1_000_000);
        new StoreReplicaMain(store, args[0], out).serve();
    }

    private void serve() throws IOException {
        var in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] words = line.strip().split(" +");
            try {
                if (words[0].equals("quit")) {
                    store.close();
                    out.println("bye");
                    return;
                }
                out.println(answer(words));
            } catch (Exception e) {
                out.println("error " + (e.getMessage() == null ? e.toString() : e.getMessage()).replace('\n', ' '));
            }
        }
        store.close();
    }

    private String answer(String[] words) throws Exception {
        return switch (words[0]) {
            case "leader" -> {
                for (int i = 0; i < 600 && store.status().leader() == null; i++) {
                    Thread.sleep(50);
                }
                yield "leader " + store.status().leader();
            }
            case "init" -> {
                applied(new CreateCluster("bench", "a".repeat(64), "node000", "127.0.0.1:7600", "127.0.0.1:7601", 5));
                yield "ok";
            }
            case "members" -> {
                var members = new ArrayList<ClusterStore.RaftMember>();
                for (int i = 1; i < words.length; i++) {
                    String[] pair = words[i].split("=", 2);
                    members.add(new ClusterStore.RaftMember(pair[0], pair[1]));
                }
                store.setMembers(members, List.of());
                yield "ok";
            }
            case "build" -> build(Integer.parseInt(words[1]), Integer.parseInt(words[2]), Integer.parseInt(words[3]),
                Integer.parseInt(words[4]), Integer.parseInt(words[5]));
            case "commit" -> commit(Integer.parseInt(words[1]), Integer.parseInt(words[2]), Path.of(words[3]));
            case "read" -> "read " + store.readLinearizable(s -> s.configuration().version());
            case "status" -> {
                var status = store.status();
                yield "status " + status.appliedIndex() + " " + status.commitIndex() + " " + status.role();
            }
            case "replay" -> {
                StartReplay replay = store.startReplay();
                yield "replay " + replay.snapshotIndex() + " " + replay.firstApplied() + " " + replay.applied() + " " + replay.loadMillis();
            }
            case "snapshots" -> {
                var text = new StringBuilder("snapshots");
                for (SnapshotWritten s : store.snapshotsWritten()) {
                    text.append(' ').append(s.index()).append(',').append(s.bytes()).append(',').append(s.startNanos())
                        .append(',').append(s.copiedNanos()).append(',').append(s.endNanos());
                }
                yield text.toString();
            }
            default -> throw new IllegalArgumentException("unknown request '" + words[0] + "' to replica " + name);
        };
    }

    private void applied(Command command) {
        Result result = store.submitAndWait(command);
        if (!result.applied()) {
            throw new IllegalStateException(command.getClass().getSimpleName() + " was rejected: " + result);
        }
    }

    /**
     * The large state through the store's own commands, WINDOW of them in flight at once: NODES
     * nodes (one from init) with their resources, VMS VM definitions spread over them, KEYS
     * configuration keys, KEYS_PER_COMMAND in each change. Answers the time it took and the commands.
     */
    private String build(int nodes, int vms, int keys, int keysPerCommand, int window) throws Exception {
        var commands = new ArrayList<Command>();
        for (int n = 1; n < nodes; n++) {
            commands.add(new AddNode(node(n), "10.0." + (n / 250) + "." + (n % 250 + 1) + ":7600",
                "10.0." + (n / 250) + "." + (n % 250 + 1) + ":7601", false));
        }
        for (int n = 0; n < nodes; n++) {
            commands.add(new ReportNodeResources(node(n), 256 * 1024, 64));
        }
        for (int v = 0; v < vms; v++) {
            String vm = String.format(Locale.ROOT, "vm%05d", v);
            var nic = new VmDefinition.VmNic(String.format(Locale.ROOT, "52:54:00:%02x:%02x:%02x", v >> 16 & 0xff, v >> 8 & 0xff, v & 0xff),
                "bridge:br0");
            commands.add(new DefineVm(new VmDefinition(vm, 2048, 2, new VmDefinition.VmBoot("/boot/vmlinuz", "/boot/initrd.img",
                "console=ttyS0 root=/dev/vda1"), List.of(), List.of(nic), "restart", v % 4, "group" + (v % 50), v % 2 == 0), false));
        }
        for (int k = 0; k < keys; k += keysPerCommand) {
            var set = new TreeMap<String, String>();
            for (int j = k; j < Math.min(keys, k + keysPerCommand); j++) {
                set.put(String.format(Locale.ROOT, "app/service%03d/key%05d", j % 500, j), "value-" + UUID.nameUUIDFromBytes(Integer.toString(j).getBytes()));
            }
            commands.add(new ChangeConfig(set, List.of(), null));
        }
        var inFlight = new Semaphore(window);
        var failure = new AtomicReference<Throwable>();
        long started = System.nanoTime();
        var all = new ArrayList<CompletableFuture<Void>>();
        for (Command command : commands) {
            inFlight.acquire();
            if (failure.get() != null) {
                break;
            }
            all.add(store.submit(command).handle((r, e) -> {
                inFlight.release();
                if (e != null) {
                    failure.compareAndSet(null, e);
                } else if (!r.applied()) {
                    failure.compareAndSet(null, new IllegalStateException(command.getClass().getSimpleName() + " was rejected: " + r));
                }
                return null;
            }));
        }
        CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).join();
        long took = System.nanoTime() - started;
        if (failure.get() != null) {
            throw new IllegalStateException("the build failed: " + failure.get().getMessage(), failure.get());
        }
        return "built " + took / 1_000_000 + " " + commands.size();
    }

    private static String node(int n) {
        return String.format(Locale.ROOT, "node%03d", n);
    }

    /**
     * CLIENTS threads each committing one config change after the other for SECONDS; writes each
     * commit's start and end ({@link System#nanoTime()}) to FILE, one commit a line.
     */
    private String commit(int seconds, int clients, Path file) throws Exception {
        long end = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
        var threads = new ArrayList<Thread>();
        var times = new ArrayList<long[]>();
        var counts = new int[clients];
        var failure = new AtomicReference<Throwable>();
        for (int c = 0; c < clients; c++) {
            long[] mine = new long[2 * 200_000];
            times.add(mine);
            int client = c;
            threads.add(Thread.ofPlatform().name("commit-" + c).start(() -> {
                int n = 0;
                while (System.nanoTime() < end && 2 * n + 1 < mine.length && failure.get() == null) {
                    long start = System.nanoTime();
                    try {
                        Result r = store.submitAndWait(new ChangeConfig(Map.of("bench/client" + client, "v" + n), List.of(), null));
                        if (!r.applied()) {
                            throw new IllegalStateException("a commit was rejected: " + r);
                        }
                    } catch (RuntimeException e) {
                        failure.compareAndSet(null, e);
                        return;
                    }
                    mine[2 * n] = start;
                    mine[2 * n + 1] = System.nanoTime();
                    n++;
                }
                counts[client] = n;
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        if (failure.get() != null) {
            throw new IllegalStateException("committing failed: " + failure.get().getMessage(), failure.get());
        }
        var lines = new StringBuilder();
        int total = 0;
        for (int c = 0; c < clients; c++) {
            for (int n = 0; n < counts[c]; n++) {
                lines.append(times.get(c)[2 * n]).append(' ').append(times.get(c)[2 * n + 1]).append('\n');
            }
            total += counts[c];
        }
        Files.writeString(file, lines);
        return "committed " + total;
    }
}
