package fivenines.block.volume;

import fivenines.model.storage.ChunkSet;
import fivenines.model.storage.ChunkSpan;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A mirror writer's activity log (DRBD's al-extents): the regions it may have writes in flight in,
 * recorded in the store before the first write into a region, so that whoever attaches after a
 * crash knows where the legs may differ. Hot regions stay open; when too many are, the least
 * recently used idle ones are closed (after a flush, so their writes are on every leg). It also
 * gathers the chunks written while a leg is out of the set, recorded with the next change.
 */
final class ActivityLog {
    /** Chunks per region. */
    static final int REGION_CHUNKS = 4;

    /** How the log records its changes (with the writer's epoch, retried on a new one by the engine). */
    interface Recorder {
        void record(List<ChunkSpan> activate, List<ChunkSpan> retire, Map<Integer, List<ChunkSpan>> missed)
            throws IOException;

        /** Puts every write made so far on stable storage on every leg. */
        void flushLegs() throws IOException;
    }

    private final int maxOpen;
    private final Recorder recorder;
    /** Open regions, least recently used first, with the writes in flight in each. */
    private final LinkedHashMap<Long, int[]> open = new LinkedHashMap<>(16, 0.75f, true);
    /** When each open region was last entered (nanoTime), for closing idle ones. */
    private final java.util.HashMap<Long, Long> lastUsed = new java.util.HashMap<>();
    /** Regions being opened (their record not yet made): writers into them wait. */
    private final Set<Long> opening = new HashSet<>();
    private final Map<Integer, ChunkSet> missed = new TreeMap<>();
    /** One change to the record at a time, so a region closed and opened again is recorded in that order. */
    private final ReentrantLock recording = new ReentrantLock();

    ActivityLog(int maxOpen, Recorder recorder, Iterable<Long> alreadyOpen) {
        this.maxOpen = maxOpen;
        this.recorder = recorder;
        long now = System.nanoTime();
        alreadyOpen.forEach(region -> {
            open.put(region, new int[1]);
            lastUsed.put(region, now);
        });
    }

    static long region(long chunk) {
        return chunk / REGION_CHUNKS;
    }

    /** Regions as chunk spans of the volume, clipped to {@code chunks}. */
    static List<ChunkSpan> spans(Iterable<Long> regions, long chunks) {
        var set = new ChunkSet();
        for (long region : regions) {
            long start = region * REGION_CHUNKS;
            long count = Math.min(REGION_CHUNKS, chunks - start);
            if (count > 0) {
                set.add(start, count);
            }
        }
        return set.spans();
    }

    /** The regions of these spans. */
    static Set<Long> regionsOf(List<ChunkSpan> spans) {
        var regions = new java.util.TreeSet<Long>();
        for (ChunkSpan span : spans) {
            for (long r = region(span.start()); r <= region(span.end() - 1); r++) {
                regions.add(r);
            }
        }
        return regions;
    }

    private long chunks = Long.MAX_VALUE;

    void volumeChunks(long count) {
        this.chunks = count;
    }

    /** A write into regions {@code first..last} starts: returns once they are open in the record. */
    void enter(long first, long last) throws IOException {
        if (tryEnter(first, last)) {
            return;
        }
        recording.lock();
        try {
            var toOpen = new ArrayList<Long>();
            var toClose = new ArrayList<Long>();
            synchronized (this) {
                if (tryEnter(first, last)) {
                    return;
                }
                for (long r = first; r <= last; r++) {
                    int[] inFlight = open.get(r);
                    if (inFlight != null) {
                        inFlight[0]++;
                    } else {
                        toOpen.add(r);
                        opening.add(r);
                    }
                }
                int excess = open.size() + toOpen.size() - maxOpen;
                if (excess > 0) {
                    // closing costs a flush of every leg: close an eighth of the log at once, not one region per write
                    excess = Math.max(excess, maxOpen / 8);
                }
                for (Iterator<Map.Entry<Long, int[]>> it = open.entrySet().iterator(); excess > 0 && it.hasNext(); ) {
                    Map.Entry<Long, int[]> e = it.next();
                    if (e.getValue()[0] == 0 && (e.getKey() < first || e.getKey() > last)) {
                        toClose.add(e.getKey());
                        it.remove();
                        lastUsed.remove(e.getKey());
                        excess--;
                    }
                }
            }
            boolean recorded = false;
            try {
                if (!toClose.isEmpty()) {
                    recorder.flushLegs();
                }
                recorder.record(spans(toOpen, chunks), spans(toClose, chunks), drainMissed());
                recorded = true;
            } finally {
                synchronized (this) {
                    opening.removeAll(toOpen);
                    if (recorded) {
                        long now = System.nanoTime();
                        toOpen.forEach(r -> {
                            open.put(r, new int[] {1});
                            lastUsed.put(r, now);
                        });
                    } else {
                        // nothing changed in the record: the closed regions stay open, the write fails
                        long now = System.nanoTime();
                        toClose.forEach(r -> {
                            open.put(r, new int[1]);
                            lastUsed.put(r, now);
                        });
                        for (long r = first; r <= last; r++) {
                            int[] inFlight = open.get(r);
                            if (inFlight != null && !toOpen.contains(r)) {
                                inFlight[0]--;
                            }
                        }
                    }
                    notifyAll();
                }
            }
        } finally {
            recording.unlock();
        }
    }

    /** Enters regions {@code first..last} if they are open in the record already; false (and nothing entered) if not. */
    synchronized boolean tryEnter(long first, long last) {
        for (long r = first; r <= last; r++) {
            if (!open.containsKey(r) || opening.contains(r)) {
                return false;
            }
        }
        long now = System.nanoTime();
        for (long r = first; r <= last; r++) {
            open.get(r)[0]++;
            lastUsed.put(r, now);
        }
        return true;
    }

    /**
     * Closes the regions no write has entered for {@code idle} (after a flush of every leg), so that
     * a writer that dies after a quiet spell leaves little to repair. Returns how many it closed.
     */
    int closeIdle(java.time.Duration idle) throws IOException {
        recording.lock();
        try {
            var toClose = new ArrayList<Long>();
            synchronized (this) {
                long cutoff = System.nanoTime() - idle.toNanos();
                for (Map.Entry<Long, int[]> e : open.entrySet()) {
                    if (e.getValue()[0] == 0 && lastUsed.getOrDefault(e.getKey(), 0L) < cutoff) {
                        toClose.add(e.getKey());
                    }
                }
                if (toClose.isEmpty()) {
                    return 0;
                }
                toClose.forEach(r -> {
                    open.remove(r);
                    lastUsed.remove(r);
                });
            }
            boolean recorded = false;
            Map<Integer, List<ChunkSpan>> drained = drainMissed();
            try {
                recorder.flushLegs();
                recorder.record(List.of(), spans(toClose, chunks), drained);
                recorded = true;
            } finally {
                if (!recorded) {
                    restoreMissed(drained);
                    synchronized (this) {
                        long now = System.nanoTime();
                        toClose.forEach(r -> {
                            open.putIfAbsent(r, new int[1]);
                            lastUsed.put(r, now);
                        });
                    }
                }
            }
            return toClose.size();
        } finally {
            recording.unlock();
        }
    }

    /** The write into regions {@code first..last} is done (on every leg, or failed). */
    synchronized void exit(long first, long last) {
        for (long r = first; r <= last; r++) {
            int[] inFlight = open.get(r);
            if (inFlight != null && inFlight[0] > 0) {
                inFlight[0]--;
            }
        }
    }

    /** Chunks written without leg {@code leg} (it is out of the set): recorded with the next change. */
    synchronized void missed(int leg, long firstChunk, long count) {
        missed.computeIfAbsent(leg, l -> new ChunkSet()).add(firstChunk, count);
    }

    synchronized boolean hasMissed() {
        return !missed.isEmpty();
    }

    /** Whether leg {@code leg} has missed chunks not yet recorded. */
    synchronized boolean hasMissed(int leg) {
        return missed.containsKey(leg);
    }

    private synchronized Map<Integer, List<ChunkSpan>> drainMissed() {
        var drained = new TreeMap<Integer, List<ChunkSpan>>();
        missed.forEach((leg, set) -> drained.put(leg, set.spans()));
        missed.clear();
        return drained;
    }

    /** Gives back missed chunks that could not be recorded. */
    private synchronized void restoreMissed(Map<Integer, List<ChunkSpan>> back) {
        back.forEach((leg, spans) -> spans.forEach(missed.computeIfAbsent(leg, l -> new ChunkSet())::add));
    }

    /** Records the missed chunks gathered so far (and nothing else). */
    void recordMissed() throws IOException {
        recording.lock();
        try {
            Map<Integer, List<ChunkSpan>> drained = drainMissed();
            if (drained.isEmpty()) {
                return;
            }
            try {
                recorder.record(List.of(), List.of(), drained);
            } catch (IOException | RuntimeException e) {
                restoreMissed(drained);
                throw e;
            }
        } finally {
            recording.unlock();
        }
    }

    /** The writer lets go cleanly: after a flush of every leg, every region is closed in the record. */
    void closeAll() throws IOException {
        recording.lock();
        try {
            List<Long> all;
            synchronized (this) {
                all = List.copyOf(open.keySet());
            }
            recorder.flushLegs();
            Map<Integer, List<ChunkSpan>> drained = drainMissed();
            try {
                recorder.record(List.of(), spans(all, chunks), drained);
            } catch (IOException | RuntimeException e) {
                restoreMissed(drained);
                throw e;
            }
            synchronized (this) {
                all.forEach(open::remove);
            }
        } finally {
            recording.unlock();
        }
    }

    synchronized int openRegions() {
        return open.size();
    }

    /** Open regions (for tests and the engine's status). */
    synchronized Set<Long> openSet() {
        return new java.util.TreeSet<>(open.keySet());
    }

    /** For tests: in-flight writes per open region. */
    synchronized Map<Long, Integer> inFlight() {
        var copy = new HashMap<Long, Integer>();
        open.forEach((r, n) -> copy.put(r, n[0]));
        return copy;
    }
}
