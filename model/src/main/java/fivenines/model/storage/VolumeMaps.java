package fivenines.model.storage;

import fivenines.model.state.Rejection;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Reading the volumes' maps: what a volume sees through its chain of layers (as runs, own or
 * shared), and the counts the listings show. A volume with one layer is counted from that layer's
 * own totals; one with snapshots below it keeps what it sees counted until a layer of its chain
 * changes, so listing volumes costs no walk over their runs.
 */
final class VolumeMaps {
    private final Volumes volumes;
    /** Counts read from the layers (not part of the state: readers fill it, under the store's read lock, concurrently). */
    private final Map<String, VisibleCounts> visibleCounts = new java.util.concurrent.ConcurrentHashMap<>();

    VolumeMaps(Volumes volumes) {
        this.volumes = volumes;
    }

    /** A volume went away or changed its path. */
    void forget(String path) {
        visibleCounts.remove(path);
    }

    void clear() {
        visibleCounts.clear();
    }


    /** Where every chunk of the volume is, as its engine serves it: runs, own ones marked. */
    VolumeView view(String path) {
        LogicalVolume volume = volumes.volume(path).orElse(null);
        if (volume == null) {
            throw Rejection.notFound("no logical volume '" + path + "'; 'nines lv list' shows them");
        }
        // the visible mapping: each layer's runs where no layer above maps the chunk
        List<LayerTree.Layer> chain = volumes.layers().chain(volume.layer());
        var located = new ArrayList<VolumeView.Run>();
        if (chain.size() == 1) {
            chain.getFirst().chunks.runs(0, volume.chunks()).forEach(run -> located.add(new VolumeView.Run(run, true)));
        } else {
            var seen = new ChunkRuns();
            var byStart = new TreeMap<Long, VolumeView.Run>();
            boolean own = true;
            for (LayerTree.Layer layer : chain) {
                for (ChunkRun run : layer.chunks.runs(0, volume.chunks())) {
                    for (ChunkRun part : uncovered(seen, run)) {
                        byStart.put(part.virtualChunk(), new VolumeView.Run(part, own));
                        // only which volume chunks are covered matters here, not where they are
                        seen.add(new ChunkRun(part.virtualChunk(), "", part.virtualChunk(), part.count()));
                    }
                }
                own = false;
            }
            located.addAll(byStart.values());
        }
        return new VolumeView(path, volume.size(), volume.epoch(), volume.readOnly(), volume.attachments(),
            List.copyOf(located));
    }

    /** Parts of {@code run} that {@code seen} does not cover. */
    private static List<ChunkRun> uncovered(ChunkRuns seen, ChunkRun run) {
        var parts = new ArrayList<ChunkRun>();
        long at = run.virtualChunk();
        for (ChunkRun above : seen.runs(run.virtualChunk(), run.end())) {
            if (above.virtualChunk() > at) {
                parts.add(run.slice(at, above.virtualChunk()));
            }
            at = above.end();
        }
        if (at < run.end()) {
            parts.add(run.slice(at, run.end()));
        }
        return parts;
    }

    /** Chunks the volume can see data in (its own and shared ones). */
    long mappedChunks(LogicalVolume volume) {
        List<LayerTree.Layer> chain = volumes.layers().chain(volume.layer());
        if (chain.size() == 1) {
            return chain.getFirst().chunks.countBelow(volume.chunks());
        }
        return visible(volume, chain).mapped();
    }

    /** Chunks only this volume uses (freed when it is removed, if nothing else shares its layers). */
    long ownChunks(LogicalVolume volume) {
        return volumes.layers().get(volume.layer()).chunks.size();
    }

    /** The physical volumes holding any chunk the volume can see, reserves or holds in its pool. */
    List<String> physicalVolumes(LogicalVolume volume) {
        var ids = new TreeSet<String>();
        for (LayerTree.Layer layer : volumes.layers().chain(volume.layer())) {
            ids.addAll(layer.chunks.chunksByPhysicalVolume().keySet());
        }
        volume.attachments().forEach(a -> a.reserved().forEach(c -> ids.add(c.physicalVolume())));
        ChunkPool pool = volumes.pool(volume.path());
        if (pool != null) {
            pool.ranges().forEach(r -> ids.add(r.physicalVolume()));
        }
        return List.copyOf(ids);
    }

    /** Chunks per physical volume that the volume can see or holds in its pool. */
    Map<String, Long> chunksByPhysicalVolume(LogicalVolume volume) {
        List<LayerTree.Layer> chain = volumes.layers().chain(volume.layer());
        var counts = new TreeMap<String, Long>(chain.size() == 1 && chain.getFirst().chunks.end() <= volume.chunks()
            ? chain.getFirst().chunks.chunksByPhysicalVolume() : visible(volume, chain).byPhysicalVolume());
        ChunkPool pool = volumes.pool(volume.path());
        if (pool != null) {
            pool.ranges().forEach(r -> counts.merge(r.physicalVolume(), r.count(), Long::sum));
        }
        return counts;
    }

    /** What a volume with snapshots below it sees, counted; kept until a layer of its chain changes. */
    private VisibleCounts visible(LogicalVolume volume, List<LayerTree.Layer> chain) {
        var key = new ArrayList<Long>(2 * chain.size() + 1);
        key.add(volume.chunks());
        for (LayerTree.Layer layer : chain) {
            key.add(layer.id);
            key.add(layer.chunks.version());
        }
        VisibleCounts cached = visibleCounts.get(volume.path());
        if (cached != null && cached.key().equals(key)) {
            return cached;
        }
        var byPv = new TreeMap<String, Long>();
        long mapped = 0;
        for (VolumeView.Run run : view(volume.path()).runs()) {
            byPv.merge(run.run().physicalVolume(), run.run().count(), Long::sum);
            mapped += run.run().count();
        }
        var counts = new VisibleCounts(List.copyOf(key), mapped, Map.copyOf(byPv));
        visibleCounts.put(volume.path(), counts);
        return counts;
    }

    private record VisibleCounts(List<Long> key, long mapped, Map<String, Long> byPhysicalVolume) {
    }

}
