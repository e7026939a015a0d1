package fivenines.model.storage;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Where a layer's chunks are, as runs: ranges of volume chunks held by consecutive chunks of one
 * physical volume. Runs never overlap and two runs that continue each other (in the volume and
 * on the PV) are always merged, so the runs are a function of the mapping alone: two replicas
 * that hold the same mapping hold the same runs, whatever order it was written in. A volume
 * written in order is a handful of runs; one written at random is one run per chunk (the worst case).
 */
public final class ChunkRuns {
    private final TreeMap<Long, ChunkRun> runs = new TreeMap<>();
    private final TreeMap<String, Long> perPhysicalVolume = new TreeMap<>();
    private long chunks;
    /** Moves on every change, so that what is computed from these runs can be kept until they change. */
    private long version;

    /** Chunks mapped. */
    public long size() {
        return chunks;
    }

    public boolean isEmpty() {
        return runs.isEmpty();
    }

    public int runCount() {
        return runs.size();
    }

    /** One past the last volume chunk mapped (0 when none is). */
    public long end() {
        return runs.isEmpty() ? 0 : runs.lastEntry().getValue().end();
    }

    public long version() {
        return version;
    }

    /** Chunks mapped on each physical volume. */
    public Map<String, Long> chunksByPhysicalVolume() {
        return java.util.Collections.unmodifiableMap(perPhysicalVolume);
    }

    /** The runs in volume order. */
    public Collection<ChunkRun> runs() {
        return runs.values();
    }

    /** The run holding volume chunk {@code chunk}, or null. */
    public ChunkRun runAt(long chunk) {
        Map.Entry<Long, ChunkRun> entry = runs.floorEntry(chunk);
        return entry == null || entry.getValue().end() <= chunk ? null : entry.getValue();
    }

    public ChunkRef get(long chunk) {
        ChunkRun run = runAt(chunk);
        return run == null ? null : run.at(chunk);
    }

    public boolean contains(long chunk) {
        return runAt(chunk) != null;
    }

    /** The runs, clipped to volume chunks {@code from} (inclusive) to {@code to} (exclusive). */
    public List<ChunkRun> runs(long from, long to) {
        var found = new ArrayList<ChunkRun>();
        if (from >= to) {
            return found;
        }
        Long first = runs.floorKey(from);
        for (ChunkRun run : runs.tailMap(first == null ? from : first, true).values()) {
            if (run.virtualChunk() >= to) {
                break;
            }
            if (run.end() > from) {
                found.add(run.slice(from, to));
            }
        }
        return found;
    }

    /** Chunks mapped below volume chunk {@code limit}. */
    public long countBelow(long limit) {
        if (end() <= limit) {
            return chunks;
        }
        long count = 0;
        for (ChunkRun run : runs.headMap(limit, false).values()) {
            count += Math.min(run.end(), limit) - run.virtualChunk();
        }
        return count;
    }

    /** Maps volume chunk {@code chunk} to {@code ref}; returns what held it before, or null. */
    public ChunkRef put(long chunk, ChunkRef ref) {
        ChunkRef previous = remove(chunk);
        insert(new ChunkRun(chunk, ref.physicalVolume(), ref.chunk(), 1));
        return previous;
    }

    /** Unmaps volume chunk {@code chunk}; returns what held it, or null. */
    public ChunkRef remove(long chunk) {
        ChunkRun run = runAt(chunk);
        if (run == null) {
            return null;
        }
        cut(run, chunk, chunk + 1);
        return run.at(chunk);
    }

    /**
     * Adds a run over volume chunks none of which is mapped yet (a snapshot being loaded, or a
     * frozen layer's runs moving into its only child).
     */
    public void add(ChunkRun run) {
        if (!runs(run.virtualChunk(), run.end()).isEmpty()) {
            throw new IllegalArgumentException("run " + run + " overlaps chunks mapped already");
        }
        insert(run);
    }

    /** Adds runs in volume order (a snapshot's) over unmapped chunks; cheaper than {@link #add} one by one. */
    public void load(List<ChunkRun> ordered) {
        for (ChunkRun run : ordered) {
            if (end() <= run.virtualChunk()) {
                insert(run);
            } else {
                add(run);
            }
        }
    }

    /**
     * Moves every chunk of {@code parent} into this layer where this layer has none of its own
     * (a frozen parent merging into its only child); {@code hidden} receives the parent's chunks
     * this layer already replaced, which nothing can see any more.
     */
    public void absorb(ChunkRuns parent, Consumer<PhysicalRange> hidden) {
        for (ChunkRun run : parent.runs()) {
            long at = run.virtualChunk();
            for (ChunkRun own : runs(run.virtualChunk(), run.end())) {
                if (own.virtualChunk() > at) {
                    insert(run.slice(at, own.virtualChunk()));
                }
                hidden.accept(run.slice(own.virtualChunk(), own.end()).physical());
                at = own.end();
            }
            if (at < run.end()) {
                insert(run.slice(at, run.end()));
            }
        }
    }

    public List<ChunkRun> snapshot() {
        return List.copyOf(runs.values());
    }

    /** Takes volume chunks {@code from} to {@code to} out of {@code run} (they lie in it), keeping what is left. */
    private void cut(ChunkRun run, long from, long to) {
        unlink(run);
        if (from > run.virtualChunk()) {
            ChunkRun head = run.slice(run.virtualChunk(), from);
            link(head);
        }
        if (to < run.end()) {
            ChunkRun tail = run.slice(to, run.end());
            link(tail);
        }
    }

    /** Puts a run over unmapped chunks, merged with the runs it continues or that continue it. */
    private void insert(ChunkRun run) {
        ChunkRun merged = run;
        Map.Entry<Long, ChunkRun> before = runs.lowerEntry(run.virtualChunk());
        if (before != null && before.getValue().continuedBy(merged)) {
            ChunkRun b = before.getValue();
            unlink(b);
            merged = new ChunkRun(b.virtualChunk(), b.physicalVolume(), b.chunk(), b.count() + merged.count());
        }
        ChunkRun after = runs.get(run.end());
        if (after != null && merged.continuedBy(after)) {
            unlink(after);
            merged = new ChunkRun(merged.virtualChunk(), merged.physicalVolume(), merged.chunk(), merged.count() + after.count());
        }
        link(merged);
    }

    private void link(ChunkRun run) {
        runs.put(run.virtualChunk(), run);
        chunks += run.count();
        perPhysicalVolume.merge(run.physicalVolume(), run.count(), Long::sum);
        version++;
    }

    private void unlink(ChunkRun run) {
        runs.remove(run.virtualChunk());
        chunks -= run.count();
        if (perPhysicalVolume.merge(run.physicalVolume(), -run.count(), Long::sum) == 0) {
            perPhysicalVolume.remove(run.physicalVolume());
        }
        version++;
    }
}
