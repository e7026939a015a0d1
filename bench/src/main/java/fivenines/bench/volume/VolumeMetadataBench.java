package fivenines.bench.volume;

import fivenines.model.codec.Json;
import fivenines.model.command.AddNode;
import fivenines.model.command.AttachLogicalVolume;
import fivenines.model.command.Command;
import fivenines.model.command.CommitChunks;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.DetachLogicalVolume;
import fivenines.model.command.ReserveChunks;
import fivenines.model.command.SnapshotLogicalVolume;
import fivenines.model.state.ClusterState;
import fivenines.model.state.Result;
import fivenines.model.state.StateMachine;
import fivenines.model.storage.ChunkMapping;
import fivenines.model.storage.ChunkRef;
import fivenines.model.storage.LogicalVolume;
import fivenines.model.storage.PhysicalVolume;
import fivenines.model.storage.VolumeGroup;
import fivenines.model.storage.Volumes;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;

/**
 * The store's volume metadata at scale, through the same commands the agents submit: a
 * simulated cluster of 16 nodes with one PV each, TIB thick volumes of 1 TiB (some written in
 * full, the rest in part, some snapshotted), then the worst case: a thin volume written at random
 * chunks, one run per chunk. Prints the time per command, the heap the state takes, and the time
 * to write a snapshot of the state and to load it again (what a restarting replica does).
 *
 * <p>Usage: VolumeMetadataBench [TIB] [RANDOM_CHUNKS] [FULLY_WRITTEN]
 */
public final class VolumeMetadataBench {
    private static final long TIB = 1L << 40;
    private static final int NODES = 16;
    private final ClusterState state = new ClusterState();
    private final StateMachine machine = new StateMachine(state);
    private long index;

    public static void main(String[] args) {
        int tib = args.length > 0 ? Integer.parseInt(args[0]) : 100;
        int randomChunks = args.length > 1 ? Integer.parseInt(args[1]) : 1_000_000;
        int fullyWritten = args.length > 2 ? Integer.parseInt(args[2]) : 10;
        new VolumeMetadataBench().run(tib, randomChunks, fullyWritten);
    }

    private Object applied(Command command) {
        Result result = machine.apply(command, ++index);
        if (result instanceof Result.Rejected r) {
            throw new IllegalStateException("rejected " + command.getClass().getSimpleName() + ": " + r.message());
        }
        return ((Result.Applied) result).value();
    }

    private void run(int tib, int randomChunks, int fullyWritten) {
        long baseline = heapUsed();
        applied(new CreateCluster("bench", "a".repeat(64), "n0", "127.0.0.1:7600", "127.0.0.1:7601", 5));
        for (int n = 1; n < NODES; n++) {
            applied(new AddNode("n" + n, "127.0.0.1:" + (7600 + 10 * n), "127.0.0.1:" + (7601 + 10 * n), false));
        }
        // room for the thick volumes, the random thin one and some slack
        long pvBytes = ((tib + 2L + (randomChunks >> 20) + 1) * TIB / NODES + (4L << 20)) & -(4L << 20);
        var pvs = new ArrayList<String>();
        for (int n = 0; n < NODES; n++) {
            String id = new UUID(0x1234L, n + 1L).toString();
            applied(new CreatePhysicalVolume(id, "n" + n, "/srv/pv" + n + ".img", pvBytes, 4L << 20,
                "127.0.0.1:" + (7602 + 10 * n), "/run/nines/nbd.sock"));
            pvs.add(id);
        }
        applied(new CreateVolumeGroup("vg", pvs));

        long[] create = new long[tib];
        for (int i = 0; i < tib; i++) {
            long t0 = System.nanoTime();
            applied(new CreateLogicalVolume("vg", "lv" + i, TIB, "n" + (i % NODES), false));
            create[i] = System.nanoTime() - t0;
        }
        long t0 = System.nanoTime();
        long chunksWritten = 0;
        for (int i = 0; i < tib; i++) {
            long chunks = i < fullyWritten ? TIB / Volumes.CHUNK_SIZE : 1024;
            chunksWritten += writeInOrder("lv" + i, "n" + (i % NODES), chunks);
        }
        long writeNanos = System.nanoTime() - t0;
        for (int i = 0; i < Math.min(tib, 8); i++) {
            applied(new SnapshotLogicalVolume("vg", "lv" + i, "lv" + i + "-snap", false, 0));
        }
        long jvmHeap = heapUsed();
        long inOrderHeap = Math.max(0, jvmHeap - baseline);
        long inOrderRuns = state.volumes().runCount();

        Timing listings = listings();
        Timing snapshot = snapshotAndRestore();

        // the worst case: a thin volume written at random, no two chunks in a run
        // twice as many chunks as it writes, so that every other chunk is written
        long randomBytes = Math.max(TIB, ((2L * randomChunks * Volumes.CHUNK_SIZE) + (4L << 20) - 1) & -(4L << 20));
        applied(new CreateLogicalVolume("vg", "random", randomBytes, "n0", true));
        long before = heapUsed();
        long runsBefore = state.volumes().runCount();
        long t1 = System.nanoTime();
        writeAtRandom("random", "n0", randomChunks, randomBytes / Volumes.CHUNK_SIZE);
        long randomNanos = System.nanoTime() - t1;
        long randomHeap = heapUsed() - before;
        long randomRuns = state.volumes().runCount() - runsBefore;
        Timing listingsRandom = listings();
        Timing snapshotRandom = snapshotAndRestore();

        double bytesPerRun = randomRuns == 0 ? 0 : (double) randomHeap / randomRuns;
        System.out.printf("volume metadata in the store, simulated through the state machine (%d nodes, one PV each, %s)%n",
            NODES, "machine shared with other work: figures are noisy");
        System.out.printf("  state: %d thick volumes of 1 TiB (%d TiB), %d written in full, %d snapshots, %d TiB of PVs%n",
            tib, tib, Math.min(fullyWritten, tib), Math.min(tib, 8), pvBytes * NODES / TIB);
        System.out.printf("  lv create -L 1T (the command's apply): median %.2f ms, max %.2f ms (goal <= 200 ms end to end)%n",
            median(create) / 1e6, Arrays.stream(create).max().orElse(0) / 1e6);
        System.out.printf("  writes committed in order: %d chunks (%d TiB) in %.1f s%n", chunksWritten,
            chunksWritten * Volumes.CHUNK_SIZE / TIB, writeNanos / 1e9);
        System.out.printf("  heap of the state: %.1f MiB for %d runs; the whole JVM's heap after GC, state included: %.1f MiB"
            + " (goal <= 1024 MiB)%n", inOrderHeap / 1048576.0, inOrderRuns, jvmHeap / 1048576.0);
        System.out.printf("  listings from the state (pvs, vgs, lvs as the API computes them): %.1f ms%n", listings.millis);
        System.out.printf("  snapshot of the state: %.1f MiB of JSON written in %.0f ms, loaded in %.0f ms (%.0f ms of it parsing JSON)"
            + " (goal: snapshot + restart <= 10 s)%n", snapshot.bytes / 1048576.0, snapshot.millis, snapshot.loadMillis,
            snapshot.parseMillis);
        System.out.printf("  worst case, a thin volume written at %d random chunks (%d runs): %.1f s, +%.1f MiB, %.0f bytes per run%n",
            randomChunks, randomRuns, randomNanos / 1e9, randomHeap / 1048576.0, bytesPerRun);
        System.out.printf("    then: listings %.1f ms; snapshot %.1f MiB written in %.0f ms, loaded in %.0f ms (%.0f ms of it parsing JSON)%n",
            listingsRandom.millis, snapshotRandom.bytes / 1048576.0, snapshotRandom.millis, snapshotRandom.loadMillis,
            snapshotRandom.parseMillis);
        System.out.printf("    1 GiB of heap holds %.0f M such runs: %.1f TiB written at random in 1 MiB chunks%n",
            bytesPerRun == 0 ? 0 : (1L << 30) / bytesPerRun / 1e6, bytesPerRun == 0 ? 0 : (1L << 30) / bytesPerRun / (1 << 20));
    }

    @SuppressWarnings("unchecked")
    private long writeInOrder(String name, String node, long chunks) {
        applied(new AttachLogicalVolume("vg", name, node, false, false));
        long epoch = state.volumes().volume("vg/" + name).orElseThrow().epoch();
        long at = 0;
        while (at < chunks) {
            int count = (int) Math.min(4096, chunks - at);
            var reserved = (List<ChunkRef>) applied(new ReserveChunks("vg", name, node, epoch, count));
            var mappings = new ArrayList<ChunkMapping>(reserved.size());
            for (ChunkRef chunk : reserved) {
                mappings.add(new ChunkMapping(at++, chunk));
            }
            applied(new CommitChunks("vg", name, node, epoch, mappings));
        }
        applied(new DetachLogicalVolume("vg", name, null));
        return at;
    }

    @SuppressWarnings("unchecked")
    private void writeAtRandom(String name, String node, int chunks, long span) {
        applied(new AttachLogicalVolume("vg", name, node, false, false));
        long epoch = state.volumes().volume("vg/" + name).orElseThrow().epoch();
        // every other chunk at most, shuffled: no two written chunks touch, so none merge
        long[] order = new long[(int) Math.min(chunks, span / 2)];
        for (int i = 0; i < order.length; i++) {
            order[i] = 2L * i;
        }
        var random = new Random(42);
        for (int i = order.length - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            long swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        int done = 0;
        while (done < order.length) {
            int count = Math.min(4096, order.length - done);
            var reserved = (List<ChunkRef>) applied(new ReserveChunks("vg", name, node, epoch, count));
            var mappings = new ArrayList<ChunkMapping>(reserved.size());
            for (ChunkRef chunk : reserved) {
                mappings.add(new ChunkMapping(order[done++], chunk));
            }
            applied(new CommitChunks("vg", name, node, epoch, mappings));
        }
        applied(new DetachLogicalVolume("vg", name, null));
    }

    private record Timing(double millis, long bytes, double loadMillis, double parseMillis) {
    }

    /** What the API computes for pv list, vg list and lv list. */
    private Timing listings() {
        long t0 = System.nanoTime();
        long sink = 0;
        for (PhysicalVolume pv : state.storage().physicalVolumes()) {
            sink += state.volumes().usedExtents(pv);
        }
        for (VolumeGroup group : state.volumes().groups()) {
            sink += state.volumes().freeBytes(group, state.storage()) + state.volumes().totalBytes(group, state.storage());
        }
        for (LogicalVolume volume : state.volumes().volumes()) {
            sink += state.volumes().mappedChunks(volume) + state.volumes().ownChunks(volume);
            sink += state.volumes().physicalVolumes(volume).size();
            sink += state.volumes().chunksByPhysicalVolume(volume).size();
        }
        if (sink == 42) {
            System.out.print("");
        }
        return new Timing((System.nanoTime() - t0) / 1e6, 0, 0, 0);
    }

    private Timing snapshotAndRestore() {
        long t0 = System.nanoTime();
        byte[] json = Json.bytes(state.snapshot());
        long written = System.nanoTime();
        var restored = new ClusterState();
        var parsed = Json.read(json, ClusterState.Snapshot.class);
        long read = System.nanoTime();
        restored.restore(parsed);
        long loaded = System.nanoTime();
        if (restored.volumes().volumes().size() != state.volumes().volumes().size()) {
            throw new IllegalStateException("the restored state lost volumes");
        }
        return new Timing((written - t0) / 1e6, json.length, (loaded - written) / 1e6, (read - written) / 1e6);
    }

    private static double median(long[] values) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted.length == 0 ? 0 : sorted[sorted.length / 2];
    }

    private static long heapUsed() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
