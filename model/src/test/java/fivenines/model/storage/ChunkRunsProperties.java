package fivenines.model.storage;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs against a per-chunk map: random puts and removes leave the same mapping, the runs are
 * maximal (so the same mapping always has the same runs), and used ranges count what they hold.
 */
class ChunkRunsProperties {
    static final List<String> PVS = List.of("a", "b");

    record Step(boolean put, long chunk, String pv, long pvChunk) {
    }

    @Property(tries = 500)
    void runsHoldExactlyWhatAPerChunkMapHoldsAndAreAlwaysMaximal(@ForAll("steps") List<Step> steps) {
        var runs = new ChunkRuns();
        var reference = new TreeMap<Long, ChunkRef>();
        for (Step step : steps) {
            if (step.put()) {
                var ref = new ChunkRef(step.pv(), step.pvChunk());
                assertEquals(reference.put(step.chunk(), ref), runs.put(step.chunk(), ref));
            } else {
                assertEquals(reference.remove(step.chunk()), runs.remove(step.chunk()));
            }
            assertEquals(reference.size(), runs.size());
        }
        for (long c = 0; c < 70; c++) {
            assertEquals(reference.get(c), runs.get(c), "chunk " + c);
        }
        assertEquals(canonical(reference), runs.snapshot());
        assertEquals(reference.headMap(30L).size(), runs.countBelow(30));
        // the same mapping loaded run by run (as from a snapshot) has the same runs
        var loaded = new ChunkRuns();
        runs.snapshot().forEach(loaded::add);
        assertEquals(runs.snapshot(), loaded.snapshot());
        var bulk = new ChunkRuns();
        bulk.load(runs.snapshot());
        assertEquals(runs.snapshot(), bulk.snapshot());
        assertEquals(runs.size(), bulk.size());
        assertEquals(runs.chunksByPhysicalVolume(), bulk.chunksByPhysicalVolume());
        var perPv = new TreeMap<String, Long>();
        reference.values().forEach(r -> perPv.merge(r.physicalVolume(), 1L, Long::sum));
        assertEquals(perPv, runs.chunksByPhysicalVolume());
    }

    @Property(tries = 500)
    void usedRangesCountAndFindFreeChunksLikeABitSet(@ForAll("ranges") List<long[]> adds) {
        var used = new UsedRanges();
        var bits = new java.util.BitSet();
        for (long[] add : adds) {
            int from = (int) add[0];
            int to = (int) (add[0] + add[1]);
            if (bits.get(from, to).isEmpty()) {
                used.add(add[0], add[1]);
                bits.set(from, to);
            } else if (bits.get(from, to).cardinality() == to - from) {
                used.remove(add[0], add[1]);
                bits.clear(from, to);
            }
            assertEquals(bits.cardinality(), used.used());
        }
        long found = 0;
        long last = -1;
        for (long[] gap : used.free(100, 1000)) {
            for (long c = gap[0]; c < gap[0] + gap[1]; c++) {
                assertTrue(!bits.get((int) c) && c > last, "chunk " + c + " is free and found in order");
                last = c;
                found++;
            }
        }
        assertEquals(100 - bits.get(0, 100).cardinality(), found);
        long extents = 0;
        for (int e = 0; e < 32; e++) {
            extents += bits.get(e * 4, e * 4 + 4).isEmpty() ? 0 : 1;
        }
        assertEquals(extents, used.extentsTouched(4));
    }

    /** The maximal runs of a per-chunk map. */
    static List<ChunkRun> canonical(TreeMap<Long, ChunkRef> map) {
        var runs = new ArrayList<ChunkRun>();
        for (Map.Entry<Long, ChunkRef> entry : map.entrySet()) {
            var next = new ChunkRun(entry.getKey(), entry.getValue().physicalVolume(), entry.getValue().chunk(), 1);
            if (!runs.isEmpty() && runs.getLast().continuedBy(next)) {
                ChunkRun last = runs.removeLast();
                runs.add(new ChunkRun(last.virtualChunk(), last.physicalVolume(), last.chunk(), last.count() + 1));
            } else {
                runs.add(next);
            }
        }
        return runs;
    }

    @Provide
    Arbitrary<List<Step>> steps() {
        // chunks near each other and PV chunks near the volume chunk, so that runs form, split and merge
        Arbitrary<Step> step = Combinators.combine(Arbitraries.of(true, true, true, false), Arbitraries.longs().between(0, 60),
                Arbitraries.of(PVS), Arbitraries.longs().between(-2, 2))
            .as((put, chunk, pv, shift) -> new Step(put, chunk, pv, Math.max(0, chunk + shift)));
        return step.list().ofMaxSize(200);
    }

    @Provide
    Arbitrary<List<long[]>> ranges() {
        return Combinators.combine(Arbitraries.longs().between(0, 110), Arbitraries.longs().between(1, 12))
            .as((start, count) -> new long[] {start, count}).list().ofMaxSize(60);
    }
}
