package fivenines.model.storage;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.function.Predicate;

/**
 * A thick volume's chunks not yet written, as ranges in the order they are handed out: taken at
 * creation (and extension) so its writes never run out of space. A pool of 1 TiB taken from one
 * empty PV is a single range.
 */
final class ChunkPool {
    private final List<PhysicalRange> ranges = new ArrayList<>();
    private long chunks;

    ChunkPool(Collection<PhysicalRange> initial) {
        initial.forEach(this::append);
    }

    long chunks() {
        return chunks;
    }

    boolean isEmpty() {
        return ranges.isEmpty();
    }

    List<PhysicalRange> ranges() {
        return List.copyOf(ranges);
    }

    /** Adds chunks at the end, merged with the last range when they continue it. */
    void append(PhysicalRange range) {
        if (!ranges.isEmpty() && ranges.getLast().continuedBy(range)) {
            PhysicalRange last = ranges.removeLast();
            ranges.add(new PhysicalRange(last.physicalVolume(), last.chunk(), last.count() + range.count()));
        } else {
            ranges.add(range);
        }
        chunks += range.count();
    }

    void append(ChunkRef chunk) {
        append(new PhysicalRange(chunk.physicalVolume(), chunk.chunk(), 1));
    }

    /**
     * Takes up to {@code count} chunks: first from ranges on PVs {@code near} accepts, then from
     * the others, each in pool order; what is left keeps its order.
     */
    List<ChunkRef> take(int count, Predicate<String> near) {
        var taken = new ArrayList<ChunkRef>();
        takeWhere(count, taken, near);
        takeWhere(count, taken, near.negate());
        return taken;
    }

    private void takeWhere(int count, List<ChunkRef> taken, Predicate<String> which) {
        for (int i = 0; i < ranges.size() && taken.size() < count; ) {
            PhysicalRange range = ranges.get(i);
            if (!which.test(range.physicalVolume())) {
                i++;
                continue;
            }
            long n = Math.min(range.count(), count - taken.size());
            for (long k = 0; k < n; k++) {
                taken.add(new ChunkRef(range.physicalVolume(), range.chunk() + k));
            }
            chunks -= n;
            if (n == range.count()) {
                ranges.remove(i);
                if (i > 0 && i < ranges.size() && ranges.get(i - 1).continuedBy(ranges.get(i))) {
                    // keep the ranges maximal, as a pool loaded from a snapshot has them
                    PhysicalRange before = ranges.remove(i - 1);
                    PhysicalRange after = ranges.get(i - 1);
                    ranges.set(i - 1, new PhysicalRange(before.physicalVolume(), before.chunk(), before.count() + after.count()));
                    i--;
                }
            } else {
                ranges.set(i, new PhysicalRange(range.physicalVolume(), range.chunk() + n, range.count() - n));
                i++;
            }
        }
    }
}
