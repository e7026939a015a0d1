package fivenines.block.volume;

import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.DetachLogicalVolume;
import fivenines.model.storage.Leg;
import fivenines.model.storage.LogicalVolume;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

import static fivenines.block.volume.VolumeTestCluster.PV0;
import static fivenines.block.volume.VolumeTestCluster.PV1;
import static fivenines.block.volume.VolumeTestCluster.value;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Random writes to a two-leg mirror (one leg local, one over NBD) while the remote leg fails and
 * returns and the writer crashes and attaches again: afterwards every acknowledged (and flushed,
 * where a crash came between) write reads back from every leg in the set, and the legs in the set
 * are byte for byte alike (invariant 1).
 */
class MirrorEngineProperties {
    static final int MIB = 1 << 20;
    static final int SIZE = 8 * MIB;
    static final MirrorEngine.Settings SETTINGS = new MirrorEngine.Settings(Duration.ofMillis(50), Duration.ofMillis(400), 0);

    sealed interface Step permits Write, Fail, Return, Crash, Flush {
    }

    record Write(int offset, int length, byte value) implements Step {
    }

    record Fail() implements Step {
    }

    record Return() implements Step {
    }

    record Crash() implements Step {
    }

    record Flush() implements Step {
    }

    @Provide
    Arbitrary<List<Step>> steps() {
        Arbitrary<Step> write = Combinators.combine(Arbitraries.integers().between(0, SIZE - 1),
                Arbitraries.integers().between(1, 3 * MIB / 2), Arbitraries.bytes().between((byte) 1, (byte) 120))
            .as((offset, length, value) -> new Write(offset / 512 * 512, Math.max(512, Math.min(length, SIZE - offset / 512 * 512)) / 512 * 512, value));
        // small writes, most within one chunk: started on every leg without waiting, as an NBD server starts them
        Arbitrary<Step> small = Combinators.combine(Arbitraries.integers().between(0, SIZE / 4096 - 1),
                Arbitraries.integers().between(1, 16), Arbitraries.bytes().between((byte) 1, (byte) 120))
            .as((block, blocks, value) -> new Write(block * 4096, Math.min(blocks, SIZE / 4096 - block) * 4096, value));
        return Arbitraries.frequencyOf(
            net.jqwik.api.Tuple.of(4, write),
            net.jqwik.api.Tuple.of(6, small),
            net.jqwik.api.Tuple.of(1, Arbitraries.just(new Fail())),
            net.jqwik.api.Tuple.of(1, Arbitraries.just(new Return())),
            net.jqwik.api.Tuple.of(1, Arbitraries.just(new Crash())),
            net.jqwik.api.Tuple.of(2, Arbitraries.just(new Flush()))).list().ofMinSize(4).ofMaxSize(18);
    }

    @Property(tries = 20)
    void acknowledgedWritesAreOnEveryLegInTheSet(@ForAll("steps") List<Step> steps) throws Exception {
        Path dir = Files.createTempDirectory("mirror-property");
        try (var cluster = new VolumeTestCluster(dir, 32L * MIB)) {
            value(cluster.apply(new CreateVolumeGroup("vg", List.of(PV0, PV1))));
            value(cluster.apply(new CreateLogicalVolume("vg", "m", SIZE, "n0", true, 1, null)));
            String pv1;
            synchronized (cluster) {
                pv1 = cluster.machine.state().storage().requirePhysicalVolume(PV1).exportName();
            }
            MirrorEngine engine = cluster.attachMirror("vg", "m", SETTINGS);
            byte[] durable = new byte[SIZE];   // what flushed, acknowledged writes put there
            byte[] acked = new byte[SIZE];     // what acknowledged writes put there (flushed or not)
            boolean[] unknown = new boolean[SIZE]; // a failed write, or unflushed data lost with a crash
            for (Step step : steps) {
                switch (step) {
                    case Write w -> {
                        byte[] data = new byte[w.length()];
                        Arrays.fill(data, w.value());
                        try {
                            writeAsServed(engine, w.offset(), data);
                            Arrays.fill(acked, w.offset(), w.offset() + w.length(), w.value());
                            Arrays.fill(unknown, w.offset(), w.offset() + w.length(), false);
                        } catch (java.io.IOException e) {
                            Arrays.fill(unknown, w.offset(), w.offset() + w.length(), true);
                        }
                    }
                    case Fail f -> cluster.failing.add(pv1);
                    case Return r -> cluster.failing.remove(pv1);
                    case Flush f -> {
                        try {
                            engine.flush();
                            System.arraycopy(acked, 0, durable, 0, SIZE);
                        } catch (java.io.IOException e) {
                            // a flush that failed promises nothing more
                        }
                    }
                    case Crash c -> {
                        cluster.crash(engine, "the writer's node died");
                        value(cluster.apply(new DetachLogicalVolume("vg", "m", "n0")));
                        // what was not flushed may be gone (and thin mappings not committed with it)
                        for (int i = 0; i < SIZE; i++) {
                            if (acked[i] != durable[i]) {
                                unknown[i] = true;
                            }
                        }
                        System.arraycopy(durable, 0, acked, 0, SIZE);
                        engine = cluster.attachMirror("vg", "m", SETTINGS);
                    }
                }
            }
            cluster.failing.clear();
            engine.flush();
            final MirrorEngine last = engine;
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            // in sync in the store, and the regions a crashed writer left open made alike (until then reads
            // of them come from one leg, and the legs may differ there in bytes no write acknowledged for good)
            while (!inSync(cluster) || last.repairPending() > 0) {
                assertTrue(System.nanoTime() < deadline, "the legs did not get in sync: " + last.legs()
                    + ", " + last.repairPending() + " chunks to repair");
                Thread.sleep(50);
            }
            engine.flush();
            byte[] leg0 = cluster.legBytes("vg/m", 0);
            byte[] leg1 = cluster.legBytes("vg/m", 1);
            assertTrue(Arrays.equals(leg0, leg1), "the legs in the set are alike");
            ByteBuffer read = ByteBuffer.allocate(SIZE);
            engine.read(0, read);
            for (int i = 0; i < SIZE; i++) {
                // the message only when a byte differs: building it for each of 8 Mi bytes would take minutes
                if (!unknown[i] && (acked[i] != leg0[i] || acked[i] != read.array()[i])) {
                    assertEquals(acked[i], leg0[i], "byte " + i + " on leg 0 after " + steps);
                    assertEquals(acked[i], read.array()[i], "byte " + i + " read back after " + steps);
                }
            }
        } finally {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /**
     * As an NBD server serves a write: started if the engine starts it (then done when its future is),
     * else waited for; a start that fails is served again the waited-for way.
     */
    static void writeAsServed(MirrorEngine engine, long offset, byte[] data) throws java.io.IOException {
        var started = engine.startWrite(offset, ByteBuffer.wrap(data), false);
        if (started != null) {
            try {
                started.get(30, java.util.concurrent.TimeUnit.SECONDS);
                return;
            } catch (java.util.concurrent.ExecutionException failed) {
                // served again below
            } catch (InterruptedException | java.util.concurrent.TimeoutException e) {
                throw new java.io.IOException("the started write did not end: " + e, e);
            }
        }
        engine.write(offset, ByteBuffer.wrap(data), false);
    }

    private static boolean inSync(VolumeTestCluster cluster) {
        synchronized (cluster) {
            LogicalVolume volume = cluster.machine.state().volumes().volume("vg/m").orElseThrow();
            return volume.legs().stream().allMatch(Leg::inSync);
        }
    }
}
