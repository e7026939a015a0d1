package fivenines.model.storage;

import fivenines.model.cluster.Membership;
import fivenines.model.cluster.NodeState;
import fivenines.model.state.Rejection;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which chunks of each physical volume are in use (by a layer, a thick volume's pool or a
 * reservation), as ranges, and the choice of free chunks for new space: the preferred node's
 * PVs first, lowest chunks first, all or nothing. Derived from the layers, pools and
 * reservations, so a snapshot of the state does not hold it.
 */
final class ChunkAllocator {
    private final Map<String, UsedRanges> used = new HashMap<>();

    static long chunksPerExtent(long extentSize) {
        return extentSize / Volumes.CHUNK_SIZE;
    }

    static long chunksOf(PhysicalVolume pv) {
        return pv.extents() * chunksPerExtent(pv.extentSize());
    }

    long usedChunks(String physicalVolume) {
        UsedRanges ranges = used.get(physicalVolume);
        return ranges == null ? 0 : ranges.used();
    }

    long usedExtents(PhysicalVolume pv) {
        UsedRanges ranges = used.get(pv.id());
        return ranges == null ? 0 : ranges.extentsTouched(chunksPerExtent(pv.extentSize()));
    }

    /** Ranges of used chunks held for the PV (a measure of how fragmented its space is). */
    int usedRangeCount(String physicalVolume) {
        UsedRanges ranges = used.get(physicalVolume);
        return ranges == null ? 0 : ranges.rangeCount();
    }

    void clear() {
        used.clear();
    }

    void take(PhysicalRange range) {
        used.computeIfAbsent(range.physicalVolume(), id -> new UsedRanges()).add(range.chunk(), range.count());
    }

    void take(Collection<PhysicalRange> ranges) {
        ranges.forEach(this::take);
    }

    /**
     * Marks many ranges used at once (a snapshot being loaded): sorted and merged per PV first,
     * so that a million one-chunk runs next to each other cost one range, not a million updates.
     */
    void takeAll(Collection<PhysicalRange> ranges) {
        var byPv = new HashMap<String, List<PhysicalRange>>();
        ranges.forEach(r -> byPv.computeIfAbsent(r.physicalVolume(), id -> new ArrayList<>()).add(r));
        for (List<PhysicalRange> list : byPv.values()) {
            list.sort(java.util.Comparator.comparingLong(PhysicalRange::chunk));
            PhysicalRange current = null;
            for (PhysicalRange range : list) {
                if (current != null && range.chunk() < current.end()) {
                    throw new IllegalStateException("chunks " + range + " are in use twice (also in " + current + ")");
                }
                if (current != null && range.chunk() == current.end()) {
                    current = new PhysicalRange(current.physicalVolume(), current.chunk(), current.count() + range.count());
                } else {
                    if (current != null) {
                        take(current);
                    }
                    current = range;
                }
            }
            if (current != null) {
                take(current);
            }
        }
    }

    void free(PhysicalRange range) {
        UsedRanges ranges = used.get(range.physicalVolume());
        if (ranges == null) {
            throw new IllegalStateException("chunks " + range + " are not in use");
        }
        ranges.remove(range.chunk(), range.count());
        if (ranges.isEmpty()) {
            used.remove(range.physicalVolume());
        }
    }

    void free(Collection<PhysicalRange> ranges) {
        ranges.forEach(this::free);
    }

    void takeChunks(Collection<ChunkRef> chunks) {
        chunks.forEach(c -> take(new PhysicalRange(c.physicalVolume(), c.chunk(), 1)));
    }

    void freeChunks(Collection<ChunkRef> chunks) {
        chunks.forEach(c -> free(new PhysicalRange(c.physicalVolume(), c.chunk(), 1)));
    }

    /**
     * Finds up to {@code count} free chunks (at least {@code atLeast}), on the preferred node's
     * PVs first, in as few ranges as it can; marks nothing, and fails unless it finds enough.
     */
    List<PhysicalRange> find(VolumeGroup group, long count, long atLeast, String preferNode, Storage storage,
                             Membership membership) {
        return find(group, count, atLeast, preferNode, storage, membership, pv -> true, "");
    }

    /** As {@link #find}, only on PVs {@code allowed} accepts ({@code where} says which, for the error). */
    List<PhysicalRange> find(VolumeGroup group, long count, long atLeast, String preferNode, Storage storage,
                             Membership membership, java.util.function.Predicate<PhysicalVolume> allowed, String where) {
        var order = new ArrayList<PhysicalVolume>();
        var others = new ArrayList<PhysicalVolume>();
        long down = 0;
        for (String id : group.physicalVolumes()) {
            PhysicalVolume pv = storage.requirePhysicalVolume(id);
            if (!allowed.test(pv)) {
                continue;
            }
            boolean nodeUp = membership.node(pv.node()).map(n -> n.state() == NodeState.UP).orElse(false);
            if (!nodeUp) {
                down += chunksOf(pv) - usedChunks(id);
                continue;
            }
            (pv.node().equals(preferNode) ? order : others).add(pv);
        }
        order.addAll(others);
        var taken = new ArrayList<PhysicalRange>();
        long found = 0;
        for (PhysicalVolume pv : order) {
            if (found == count) {
                break;
            }
            UsedRanges ranges = used.getOrDefault(pv.id(), new UsedRanges());
            for (long[] gap : ranges.free(chunksOf(pv), count - found)) {
                taken.add(new PhysicalRange(pv.id(), gap[0], gap[1]));
                found += gap[1];
            }
        }
        if (found == count || found >= atLeast) {
            return taken;
        }
        long mib = Volumes.CHUNK_SIZE >> 20;
        throw Rejection.noSpace("volume group '" + group.name() + "' has " + found * mib + " MiB free" + where + " on nodes that are up"
            + (down > 0 ? " (and " + down * mib + " MiB on nodes that are down)" : "") + "; " + atLeast * mib
            + " MiB are needed. Add space with 'nines vg extend' or free some with 'nines lv remove'");
    }

    /** Free chunks of this PV. */
    long freeChunks(PhysicalVolume pv) {
        return chunksOf(pv) - usedChunks(pv.id());
    }

    static List<ChunkRef> chunks(List<PhysicalRange> ranges) {
        var chunks = new ArrayList<ChunkRef>();
        for (PhysicalRange range : ranges) {
            for (long i = 0; i < range.count(); i++) {
                chunks.add(new ChunkRef(range.physicalVolume(), range.chunk() + i));
            }
        }
        return chunks;
    }
}
