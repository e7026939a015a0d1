package fivenines.model.storage;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The chunks of one physical volume in use, as disjoint ranges (start to end, end exclusive)
 * merged when they touch: a PV filled in order is one range, whatever its size.
 */
final class UsedRanges {
    private final TreeMap<Long, Long> ranges = new TreeMap<>();
    private long used;

    long used() {
        return used;
    }

    int rangeCount() {
        return ranges.size();
    }

    boolean isEmpty() {
        return ranges.isEmpty();
    }

    /** Marks chunks {@code start} to {@code start + count} used; none of them may be used already. */
    void add(long start, long count) {
        long end = start + count;
        Map.Entry<Long, Long> before = ranges.floorEntry(start);
        if (before != null && before.getValue() > start) {
            throw new IllegalStateException("chunks " + start + "+" + count + " are in use already (" + before + ")");
        }
        Long next = ranges.ceilingKey(start);
        if (next != null && next < end) {
            throw new IllegalStateException("chunks " + start + "+" + count + " are in use already (from " + next + ")");
        }
        long from = start;
        long to = end;
        if (before != null && before.getValue() == start) {
            from = before.getKey();
            ranges.remove(from);
        }
        Long after = ranges.get(end) == null ? null : ranges.remove(end);
        if (after != null) {
            to = after;
        }
        ranges.put(from, to);
        used += count;
    }

    /** Marks chunks {@code start} to {@code start + count} free; all of them must be in use. */
    void remove(long start, long count) {
        long end = start + count;
        Map.Entry<Long, Long> holder = ranges.floorEntry(start);
        if (holder == null || holder.getValue() < end) {
            throw new IllegalStateException("chunks " + start + "+" + count + " are not all in use");
        }
        ranges.remove(holder.getKey());
        if (holder.getKey() < start) {
            ranges.put(holder.getKey(), start);
        }
        if (end < holder.getValue()) {
            ranges.put(end, holder.getValue());
        }
        used -= count;
    }

    /** Up to {@code count} free chunks below {@code limit}, lowest first, as ranges (nothing is marked). */
    List<long[]> free(long limit, long count) {
        var found = new ArrayList<long[]>();
        long at = 0;
        long left = count;
        for (Map.Entry<Long, Long> range : ranges.entrySet()) {
            if (left == 0 || at >= limit) {
                break;
            }
            long gap = Math.min(range.getKey(), limit) - at;
            if (gap > 0) {
                long take = Math.min(gap, left);
                found.add(new long[] {at, take});
                left -= take;
            }
            at = Math.max(at, range.getValue());
        }
        if (left > 0 && at < limit) {
            found.add(new long[] {at, Math.min(limit - at, left)});
        }
        return found;
    }

    /** Extents (of {@code perExtent} chunks) with any chunk in use. */
    long extentsTouched(long perExtent) {
        long count = 0;
        long last = -1;
        for (Map.Entry<Long, Long> range : ranges.entrySet()) {
            long first = range.getKey() / perExtent;
            long end = (range.getValue() - 1) / perExtent;
            count += end - Math.max(first, last + 1) + 1;
            last = end;
        }
        return count;
    }
}
