package fivenines.model.storage;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A set of a volume's chunks as disjoint ranges merged when they touch (what a leg missed, the
 * regions being written): adding what is there already and removing what is not are no-ops,
 * so replaying a batch changes nothing more.
 */
public final class ChunkSet {
    private final TreeMap<Long, Long> ranges = new TreeMap<>();
    private long chunks;

    public ChunkSet() {
    }

    public ChunkSet(Collection<ChunkSpan> spans) {
        spans.forEach(this::add);
    }

    public long size() {
        return chunks;
    }

    public boolean isEmpty() {
        return ranges.isEmpty();
    }

    public void add(ChunkSpan span) {
        add(span.start(), span.count());
    }

    public void addAll(ChunkSet other) {
        other.ranges.forEach((from, to) -> add(from, to - from));
    }

    public void add(long start, long count) {
        long from = start;
        long to = start + count;
        Map.Entry<Long, Long> before = ranges.floorEntry(from);
        if (before != null && before.getValue() >= from) {
            from = before.getKey();
            to = Math.max(to, before.getValue());
        }
        for (Map.Entry<Long, Long> next = ranges.ceilingEntry(from); next != null && next.getKey() <= to;
             next = ranges.ceilingEntry(from)) {
            to = Math.max(to, next.getValue());
            chunks -= next.getValue() - next.getKey();
            ranges.remove(next.getKey());
        }
        ranges.put(from, to);
        chunks += to - from;
    }

    public void remove(ChunkSpan span) {
        remove(span.start(), span.count());
    }

    public void remove(long start, long count) {
        long end = start + count;
        Map.Entry<Long, Long> before = ranges.lowerEntry(start);
        if (before != null && before.getValue() > start) {
            ranges.put(before.getKey(), start);
            chunks -= before.getValue() - start;
            if (before.getValue() > end) {
                ranges.put(end, before.getValue());
                chunks += before.getValue() - end;
                return;
            }
        }
        for (Map.Entry<Long, Long> next = ranges.ceilingEntry(start); next != null && next.getKey() < end;
             next = ranges.ceilingEntry(start)) {
            ranges.remove(next.getKey());
            chunks -= next.getValue() - next.getKey();
            if (next.getValue() > end) {
                ranges.put(end, next.getValue());
                chunks += next.getValue() - end;
                break;
            }
        }
    }

    /** Drops every chunk at or beyond {@code limit}. */
    public void clip(long limit) {
        if (!ranges.isEmpty() && ranges.lastEntry().getValue() > limit) {
            remove(limit, ranges.lastEntry().getValue() - limit);
        }
    }

    public boolean contains(long chunk) {
        Map.Entry<Long, Long> at = ranges.floorEntry(chunk);
        return at != null && at.getValue() > chunk;
    }

    /** Whether any chunk of {@code start .. start + count} is in the set. */
    public boolean intersects(long start, long count) {
        Map.Entry<Long, Long> at = ranges.floorEntry(start + count - 1);
        return at != null && at.getValue() > start;
    }

    public List<ChunkSpan> spans() {
        var spans = new ArrayList<ChunkSpan>(ranges.size());
        ranges.forEach((from, to) -> spans.add(new ChunkSpan(from, to - from)));
        return spans;
    }

    /** The first spans, holding at most {@code limit} chunks between them (the last one cut to fit). */
    public List<ChunkSpan> first(long limit) {
        var spans = new ArrayList<ChunkSpan>();
        long left = limit;
        for (Map.Entry<Long, Long> range : ranges.entrySet()) {
            if (left <= 0) {
                break;
            }
            long count = Math.min(left, range.getValue() - range.getKey());
            spans.add(new ChunkSpan(range.getKey(), count));
            left -= count;
        }
        return spans;
    }

    public ChunkSet copy() {
        var copy = new ChunkSet();
        copy.ranges.putAll(ranges);
        copy.chunks = chunks;
        return copy;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ChunkSet other && ranges.equals(other.ranges);
    }

    @Override
    public int hashCode() {
        return ranges.hashCode();
    }

    @Override
    public String toString() {
        return spans().toString();
    }
}
