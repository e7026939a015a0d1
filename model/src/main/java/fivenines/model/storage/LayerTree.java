package fivenines.model.storage;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The layers volumes find their data through. A volume's top layer maps chunks the volume wrote
 * since its last snapshot; the layer's parent (frozen, shared with snapshots) maps older ones.
 * A snapshot freezes the top layer and gives origin and snapshot a new empty top each, so it takes
 * constant time. A layer that no volume can see any more is freed, and a frozen layer left with
 * one child is merged into it, so removing a snapshot frees exactly the chunks only it used.
 * Chunks that become unreachable go back to the allocator.
 */
final class LayerTree {
    private final TreeMap<Long, Layer> layers = new TreeMap<>();
    private final ChunkAllocator allocator;
    private long nextLayer = 1;

    /** A set of chunk mappings, writable while it is a volume's top, frozen once it has children. */
    static final class Layer {
        final long id;
        Long parent;
        String top;
        final Set<Long> children = new TreeSet<>();
        final ChunkRuns chunks = new ChunkRuns();

        Layer(long id, Long parent, String top) {
            this.id = id;
            this.parent = parent;
            this.top = top;
        }
    }

    LayerTree(ChunkAllocator allocator) {
        this.allocator = allocator;
    }

    Layer get(long id) {
        return layers.get(id);
    }

    Layer parentOf(Layer layer) {
        return layer.parent == null ? null : layers.get(layer.parent);
    }

    /** The layer and its ancestors, top first. */
    List<Layer> chain(long top) {
        var chain = new ArrayList<Layer>();
        for (Layer layer = layers.get(top); layer != null; layer = parentOf(layer)) {
            chain.add(layer);
        }
        return chain;
    }

    Collection<Layer> all() {
        return layers.values();
    }

    Layer newLayer(Long parent, String top) {
        var layer = new Layer(nextLayer++, parent, top);
        layers.put(layer.id, layer);
        return layer;
    }

    int depth(Layer layer) {
        int depth = 0;
        for (Layer l = layer; l != null; l = parentOf(l)) {
            depth++;
        }
        return depth;
    }

    /**
     * Freezes {@code top} (a volume's top) for a snapshot: returns the new tops of origin and
     * snapshot. When nothing was written since the last snapshot, the snapshot shares the parent
     * directly and the origin keeps its top.
     */
    Layer[] freeze(Layer top, String originPath, String snapshotPath) {
        if (top.chunks.isEmpty()) {
            Layer snapshotTop = newLayer(top.parent, snapshotPath);
            if (top.parent != null) {
                layers.get(top.parent).children.add(snapshotTop.id);
            }
            return new Layer[] {top, snapshotTop};
        }
        top.top = null;
        Layer originTop = newLayer(top.id, originPath);
        Layer snapshotTop = newLayer(top.id, snapshotPath);
        top.children.add(originTop.id);
        top.children.add(snapshotTop.id);
        return new Layer[] {originTop, snapshotTop};
    }

    /** Maps chunk {@code chunk} of a volume's top layer; the chunk it replaces in that layer is freed. */
    void map(Layer top, long chunk, ChunkRef ref) {
        ChunkRef previous = top.chunks.put(chunk, ref);
        if (previous != null && !previous.equals(ref)) {
            allocator.freeChunks(List.of(previous));
        }
        releaseHidden(top, chunk);
    }

    /**
     * A copy of chunk {@code chunk} was just committed below some frozen layers: an ancestor's copy
     * that no volume can see any more (every branch under it has its own) is freed.
     */
    private void releaseHidden(Layer from, long chunk) {
        for (Layer layer = parentOf(from); layer != null; layer = parentOf(layer)) {
            if (layer.chunks.contains(chunk) && hiddenBelow(layer, chunk)) {
                allocator.freeChunks(List.of(layer.chunks.remove(chunk)));
            }
        }
    }

    /** Whether every volume descending from {@code layer} has its own copy of {@code chunk}. */
    private boolean hiddenBelow(Layer layer, long chunk) {
        if (layer.top != null) {
            return false;
        }
        for (long id : layer.children) {
            Layer child = layers.get(id);
            if (!child.chunks.contains(chunk) && !hiddenBelow(child, chunk)) {
                return false;
            }
        }
        return true;
    }

    /**
     * A volume's top lost its volume. The removed branch may have been the last to see some chunks
     * of the frozen layers above it (every other branch has its own copy): those are freed too.
     */
    void drop(Layer top) {
        var ancestors = new ArrayList<Long>();
        for (Layer layer = parentOf(top); layer != null; layer = parentOf(layer)) {
            ancestors.add(layer.id);
        }
        top.top = null;
        release(top);
        ancestors.stream().filter(layers::containsKey).findFirst().ifPresent(id -> {
            for (Layer layer = layers.get(id); layer != null; layer = parentOf(layer)) {
                releaseHiddenIn(layer);
            }
        });
    }

    /** Frees each chunk of a frozen layer that every volume below it has its own copy of. */
    private void releaseHiddenIn(Layer layer) {
        if (layer.top != null) {
            return;
        }
        var hidden = new ArrayList<Long>();
        for (ChunkRun run : List.copyOf(layer.chunks.runs())) {
            for (long chunk = run.virtualChunk(); chunk < run.end(); chunk++) {
                if (hiddenBelow(layer, chunk)) {
                    hidden.add(chunk);
                }
            }
        }
        for (long chunk : hidden) {
            allocator.freeChunks(List.of(layer.chunks.remove(chunk)));
        }
    }

    /** A layer lost a reference (its volume, or a child): free it when none is left, merge it when one child is. */
    private void release(Layer layer) {
        if (layer.top != null) {
            return;
        }
        if (layer.children.isEmpty()) {
            layer.chunks.runs().forEach(run -> allocator.free(run.physical()));
            layers.remove(layer.id);
            if (layer.parent != null) {
                Layer parent = layers.get(layer.parent);
                parent.children.remove(layer.id);
                release(parent);
            }
        } else if (layer.children.size() == 1) {
            Layer child = layers.get(layer.children.iterator().next());
            child.chunks.absorb(layer.chunks, allocator::free);
            child.parent = layer.parent;
            layers.remove(layer.id);
            if (layer.parent != null) {
                Layer parent = layers.get(layer.parent);
                parent.children.remove(layer.id);
                parent.children.add(child.id);
            }
        }
    }

    // ---- snapshots of the state ----

    List<Volumes.LayerSnapshot> snapshot() {
        var all = new ArrayList<Volumes.LayerSnapshot>();
        for (Layer layer : layers.values()) {
            all.add(new Volumes.LayerSnapshot(layer.id, layer.parent, layer.top, List.copyOf(layer.children), layer.chunks.snapshot()));
        }
        return all;
    }

    long nextLayer() {
        return nextLayer;
    }

    void clear() {
        layers.clear();
        nextLayer = 1;
    }

    /** Loads the layers; the chunks they hold are added to {@code used}, for the allocator to take at once. */
    void restore(List<Volumes.LayerSnapshot> snapshot, long next, List<PhysicalRange> used) {
        for (Volumes.LayerSnapshot s : snapshot == null ? List.<Volumes.LayerSnapshot>of() : snapshot) {
            var layer = new Layer(s.id(), s.parent(), s.top());
            layer.children.addAll(s.children());
            layer.chunks.load(s.runs());
            s.runs().forEach(run -> used.add(run.physical()));
            layers.put(layer.id, layer);
        }
        nextLayer = next;
    }
}
