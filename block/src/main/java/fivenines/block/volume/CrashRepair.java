package fivenines.block.volume;

import fivenines.model.storage.ChunkSet;
import fivenines.model.storage.ChunkSpan;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The regions a previous writer of a mirrored volume left open in its activity log (it may have
 * died with writes on some legs only), made alike on every leg in the background (DRBD's
 * activity-log resync after a primary's crash). Until a chunk is repaired, reads of it come from
 * one leg only, the source, so that a guest never sees it change; writes go to every leg as always,
 * so the legs never drift further apart. Each repaired batch is recorded in the store.
 */
final class CrashRepair {
    private static final Logger LOG = LoggerFactory.getLogger(CrashRepair.class);
    private static final int BATCH = 32;
    private final MirrorEngine engine;
    /** Chunks not yet made alike (guarded by itself). */
    private final ChunkSet pending = new ChunkSet();
    /** The leg those chunks are read and copied from until they are repaired. */
    private volatile Integer source;

    CrashRepair(MirrorEngine engine) {
        this.engine = engine;
    }

    /** Repairs {@code chunks} from leg {@code from}. */
    void start(int from, ChunkSet chunks) {
        synchronized (pending) {
            source = from;
            pending.addAll(chunks);
        }
    }

    /** The leg to read chunks {@code first..first+count} from while any of them waits for its repair, else null. */
    Integer sourceFor(long first, long count) {
        synchronized (pending) {
            return !pending.isEmpty() && pending.intersects(first, count) ? source : null;
        }
    }

    /** The chunks that wait for their repair, as spans. */
    List<ChunkSpan> pendingSpans() {
        synchronized (pending) {
            return pending.spans();
        }
    }

    /**
     * Leg {@code index} left the set. When it was the source, the chunks left are repaired from
     * {@code replacement} (an in-sync leg, or null when none is left): what the source held is out
     * of reach, and the leg that left counts them missed, so its resync brings it to the new source.
     */
    void legLeft(int index, Integer replacement) {
        synchronized (pending) {
            if (source != null && source == index && !pending.isEmpty()) {
                LOG.info("{}: the repair's source, leg {}, left the set: the {} chunks left are repaired from leg {}",
                    engine.name(), index, pending.size(), replacement);
                source = replacement;
            }
        }
    }

    /** Chunks that wait for their repair (0 when none). */
    long pending() {
        synchronized (pending) {
            return pending.size();
        }
    }

    /** Makes one batch alike on every leg written to, from the source; true when there was any. */
    boolean step() throws IOException {
        List<ChunkSpan> batch;
        synchronized (pending) {
            if (pending.isEmpty()) {
                return false;
            }
            batch = pending.first(BATCH);
        }
        Integer from = source;
        List<VolumeEngine> others = new ArrayList<>();
        engine.legLock.readLock().lock();
        try {
            engine.open.forEach((index, legEngine) -> {
                if (!index.equals(from)) {
                    others.add(legEngine);
                }
            });
        } finally {
            engine.legLock.readLock().unlock();
        }
        ByteBuffer buffer = ByteBuffer.allocateDirect((int) fivenines.model.storage.Volumes.CHUNK_SIZE);
        try {
            for (ChunkSpan span : batch) {
                for (long c = span.start(); c < span.end(); c++) {
                    if (engine.closed) {
                        return true;
                    }
                    if (!others.isEmpty()) {
                        engine.copyChunk(c, others, buffer);
                    }
                }
            }
        } catch (MirrorEngine.SourceLegFailed failed) {
            // the source is gone: it leaves the set (counting these chunks missed) and the repair goes on from another leg
            engine.dropLeg(failed.leg, "reading failed while repairing a previous writer's regions: " + failed.getMessage(), List.of());
            return true;
        }
        for (VolumeEngine other : others) {
            other.flush();
        }
        engine.withEpoch(at -> {
            engine.metadata.repaired(at, batch);
            return null;
        });
        synchronized (pending) {
            batch.forEach(pending::remove);
            if (pending.isEmpty()) {
                LOG.info("{}: the regions a previous writer left open are alike on every leg again", engine.name());
            }
        }
        return true;
    }
}
