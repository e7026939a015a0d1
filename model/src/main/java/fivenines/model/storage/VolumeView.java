package fivenines.model.storage;

import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What a volume engine needs to serve a volume (one leg of it, {@code leg}): where its chunks are, as runs in volume order,
 * and which runs are the volume's own (written in place) rather than shared with a snapshot
 * (copied on write). Chunks in no run read as zeroes.
 */
public record VolumeView(String path, long size, long epoch, boolean readOnly, List<Attachment> attachments,
                         List<Run> runs, int leg) {
    public VolumeView(String path, long size, long epoch, boolean readOnly, List<Attachment> attachments, List<Run> runs) {
        this(path, size, epoch, readOnly, attachments, runs, 0);
    }

    public VolumeView {
        attachments = List.copyOf(attachments);
        runs = List.copyOf(runs);
        for (int i = 1; i < runs.size(); i++) {
            if (runs.get(i).run().virtualChunk() < runs.get(i - 1).run().end()) {
                throw new IllegalArgumentException("runs of " + path + " overlap or are out of order at " + runs.get(i));
            }
        }
    }

    /** A run of the volume's chunks, and whether only this volume uses them. */
    public record Run(ChunkRun run, boolean own) {
    }

    /** Where a chunk of the volume is, and whether only this volume uses it. */
    public record Located(ChunkRef chunk, boolean own) {
    }

    /** Where chunk {@code chunk} of the volume is, or null when it reads as zeroes. */
    public Located locate(long chunk) {
        int low = 0;
        int high = runs.size() - 1;
        while (low <= high) {
            int middle = (low + high) >>> 1;
            ChunkRun run = runs.get(middle).run();
            if (chunk < run.virtualChunk()) {
                high = middle - 1;
            } else if (chunk >= run.end()) {
                low = middle + 1;
            } else {
                return new Located(run.at(chunk), runs.get(middle).own());
            }
        }
        return null;
    }

    /** The runs over volume chunks {@code from} (inclusive) to {@code to} (exclusive), clipped to that range. */
    public List<Run> runs(long from, long to) {
        var found = new java.util.ArrayList<Run>();
        int low = 0;
        int high = runs.size();
        while (low < high) {
            int middle = (low + high) >>> 1;
            if (runs.get(middle).run().end() <= from) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        for (int i = low; i < runs.size() && runs.get(i).run().virtualChunk() < to; i++) {
            Run r = runs.get(i);
            found.add(new Run(r.run().slice(from, to), r.own()));
        }
        return found;
    }

    /** Chunks mapped. */
    public long mappedChunks() {
        return runs.stream().mapToLong(r -> r.run().count()).sum();
    }

    /** The physical volumes holding the volume's mapped chunks. */
    public Set<String> physicalVolumes() {
        var ids = new TreeSet<String>();
        runs.forEach(r -> ids.add(r.run().physicalVolume()));
        return ids;
    }

    /**
     * Every mapped chunk on its own: one entry per chunk, so only for small volumes (tests, tools);
     * the engine and the store work on {@link #runs()}.
     */
    public Map<Long, Located> chunks() {
        var chunks = new HashMap<Long, Located>();
        for (Run r : runs) {
            for (long c = r.run().virtualChunk(); c < r.run().end(); c++) {
                chunks.put(c, new Located(r.run().at(c), r.own()));
            }
        }
        return Collections.unmodifiableMap(chunks);
    }
}
