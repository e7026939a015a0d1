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

    /** A volume went away, changed its path or its legs. */
    void forget(String path) {
        visibleCounts.keySet().removeIf(key -> key.equals(path) || key.startsWith(path + "#"));
    }

    void clear() {
        visibleCounts.clear();
    }


    /** Where every chunk of leg {@code legIndex} of the volume is, as its engine serves it: runs, own ones marked. */
    VolumeView view(String path, int legIndex) {
        LogicalVolume volume = volumes.volume(path).orElse(null);
        if (volume == null) {
            throw Rejection.notFound("no logical volume '" + path + "'; 'nines lv list' shows them");
        }
        Leg leg = volume.leg(legIndex).orElseThrow(() -> Rejection.notFound(path + " has no leg " + legIndex));
        // the visible mapping: each layer's runs where no layer above maps the chunk
        List<LayerTree.Layer> chain = volumes.layers().chain(leg.layer());
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
            List.copyOf(located), legIndex);
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

    /** Chunks leg {@code leg} of the volume can see data in (its own and shared ones). */
    long mappedChunks(LogicalVolume volume, Leg leg) {
        List<LayerTree.Layer> chain = volumes.layers().chain(leg.layer());
        if (chain.size() == 1) {
            return chain.getFirst().chunks.countBelow(volume.chunks());
        }
        return visible(volume, leg, chain).mapped();
    }

    /** Chunks only this volume uses on all its legs (freed when it is removed, if nothing else shares its layers). */
    long ownChunks(LogicalVolume volume) {
        long own = 0;
        for (Leg leg : volume.legs()) {
            own += volumes.layers().get(leg.layer()).chunks.size();
        }
        return own;
    }

    /** The physical volumes holding any chunk the volume's legs can see, reserve or hold in their pools. */
    List<String> physicalVolumes(LogicalVolume volume) {
        var ids = new TreeSet<String>();
        for (Leg leg : volume.legs()) {
            for (LayerTree.Layer layer : volumes.layers().chain(leg.layer())) {
                ids.addAll(layer.chunks.chunksByPhysicalVolume().keySet());
            }
            ChunkPool pool = volumes.pool(Volumes.poolKey(volume.path(), leg.index()));
            if (pool != null) {
                pool.ranges().forEach(r -> ids.add(r.physicalVolume()));
            }
        }
        volume.attachments().forEach(a -> a.reserved().forEach(c -> ids.add(c.physicalVolume())));
        return List.copyOf(ids);
    }

    /** Chunks per physical volume that the volume's legs can see or hold in their pools. */
    Map<String, Long> chunksByPhysicalVolume(LogicalVolume volume) {
        var counts = new TreeMap<String, Long>();
        for (Leg leg : volume.legs()) {
            List<LayerTree.Layer> chain = volumes.layers().chain(leg.layer());
            (chain.size() == 1 && chain.getFirst().chunks.end() <= volume.chunks()
                ? chain.getFirst().chunks.chunksByPhysicalVolume() : visible(volume, leg, chain).byPhysicalVolume())
                .forEach((pv, count) -> counts.merge(pv, count, Long::sum));
            ChunkPool pool = volumes.pool(Volumes.poolKey(volume.path(), leg.index()));
            if (pool != null) {
                pool.ranges().forEach(r -> counts.merge(r.physicalVolume(), r.count(), Long::sum));
            }
        }
        return counts;
    }

    /** What a leg with snapshots below it sees, counted; kept until a layer of its chain changes. */
    private VisibleCounts visible(LogicalVolume volume, Leg leg, List<LayerTree.Layer> chain) {
        var key = new ArrayList<Long>(2 * chain.size() + 1);
        key.add(volume.chunks());
        for (LayerTree.Layer layer : chain) {
            key.add(layer.id);
            key.add(layer.chunks.version());
        }
        String cacheKey = Volumes.poolKey(volume.path(), leg.index());
        VisibleCounts cached = visibleCounts.get(cacheKey);
        if (cached != null && cached.key().equals(key)) {
            return cached;
        }
        var byPv = new TreeMap<String, Long>();
        long mapped = 0;
        for (VolumeView.Run run : view(volume.path(), leg.index()).runs()) {
            byPv.merge(run.run().physicalVolume(), run.run().count(), Long::sum);
            mapped += run.run().count();
        }
        var counts = new VisibleCounts(List.copyOf(key), mapped, Map.copyOf(byPv));
        visibleCounts.put(cacheKey, counts);
        return counts;
    }

    private record VisibleCounts(List<Long> key, long mapped, Map<String, Long> byPhysicalVolume) {
    }

}
