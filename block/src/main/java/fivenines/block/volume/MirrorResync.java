package fivenines.block.volume;

import fivenines.model.storage.ChunkSpan;
import fivenines.model.storage.Leg;
import fivenines.model.storage.LegState;
import fivenines.model.storage.MirrorStatus;
import fivenines.model.storage.VolumeView;
import fivenines.model.storage.Volumes;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A mirror's resync, apart from its I/O path: picks a leg that is behind, makes it a write target
 * (so it misses nothing from then on), records what it missed so far, tells the store, copies back
 * the chunks the store lists as missed from an in-sync leg (throttled, recording progress in
 * batches so a restart resumes where it stopped), and lets the leg join the set once nothing is left.
 */
final class MirrorResync {
    private static final Logger LOG = LoggerFactory.getLogger(MirrorResync.class);
    private static final long CHUNK = Volumes.CHUNK_SIZE;
    /** Chunks copied between two records of resync progress. */
    private static final int RESYNC_BATCH = 32;
    /** Chunks copied at once: a remote leg answers one request after another's round trip, so several keep it busy. */
    private static final int IN_FLIGHT = 8;

    private final MirrorEngine engine;

    MirrorResync(MirrorEngine engine) {
        this.engine = engine;
    }

    /** Resyncs one leg that is behind, if any and this engine is the volume's only writer; false when it could not. */
    boolean resyncOnce() throws IOException {
        MirrorStatus status = engine.metadata.status();
        VolumeView any = engine.metadata.view(engine.anyLeg());
        if (any.attachments().size() != 1) {
            return true; // a migration is going on: the writer that stays resyncs
        }
        Integer behind = null;
        engine.legLock.readLock().lock();
        try {
            long now = System.currentTimeMillis();
            for (Leg leg : engine.legs.values()) {
                long[] wait = engine.retry.get(leg.index());
                if (!leg.inSync() && (wait == null || now >= wait[0])) {
                    behind = leg.index();
                    break;
                }
            }
        } finally {
            engine.legLock.readLock().unlock();
        }
        if (behind == null) {
            return true;
        }
        return resync(behind, status);
    }

    private boolean resync(int index, MirrorStatus status) throws IOException {
        Leg stored = status.legs().stream().filter(l -> l.index() == index).findFirst().orElse(null);
        if (stored == null) {
            return true;
        }
        // 0. the leg's node answers: a leg whose node is away (killed, cut off, not yet declared down) is not
        // shown resyncing in the store for the moment it takes to find that out
        try {
            reach(index, stored);
        } catch (IOException e) {
            LOG.info("{}: leg {} cannot resync yet, its devices do not answer: {}", engine.name(), index, e.getMessage());
            engine.deferRetry(index);
            return false;
        }
        // 1. the leg becomes a write target, so that it misses nothing from now on
        engine.legLock.writeLock().lock();
        try {
            Leg leg = engine.legs.get(index);
            if (leg == null || leg.inSync()) {
                return true;
            }
            if (!engine.open.containsKey(index)) {
                var legEngine = new VolumeEngine(engine.metadata.leg(index), engine.legDevices(index), engine.settings.commitInterval());
                List<fivenines.model.storage.ChunkRef> held = engine.spare.remove(index);
                if (held != null) {
                    legEngine.adoptReserved(held);
                }
                engine.open.put(index, legEngine);
            }
            engine.legs.put(index, new Leg(leg.index(), leg.layer(), leg.node(), leg.physicalVolume(), LegState.RESYNCING,
                System.currentTimeMillis(), null, leg.replaces()));
        } finally {
            engine.legLock.writeLock().unlock();
        }
        try {
            // 2. what it missed before is recorded; 3. the store hears it resyncs
            engine.activity.recordMissed();
            if (stored.state() == LegState.OUT) {
                engine.withEpoch(at -> {
                    engine.metadata.startResync(at, index);
                    return null;
                });
            }
        } catch (IOException e) {
            LOG.info("{}: leg {} cannot resync yet: {}", engine.name(), index, e.getMessage());
            engine.backOut(index, "resync not started: " + e.getMessage());
            return false;
        }
        LOG.info("{}: leg {} resyncs ({} chunks to copy)", engine.name(), index, engine.metadata.status().missedChunks(index));
        try {
            copyBack(index);
            return true;
        } catch (IOException e) {
            LOG.warn("{}: resync of leg {} stopped: {}", engine.name(), index, e.getMessage());
            if (!engine.closed) {
                try {
                    engine.dropLeg(index, "resync failed: " + e.getMessage(), List.of());
                } catch (IOException again) {
                    LOG.warn("{}: leg {}: {}", engine.name(), index, again.getMessage());
                }
            }
            return false;
        } finally {
            engine.progress = null;
        }
    }

    /** Opens each of the leg's physical volumes that is not on this node, and closes it again; throws when one does not answer. */
    private void reach(int index, Leg leg) throws IOException {
        VolumeView view = engine.metadata.view(index);
        var physicalVolumes = new java.util.TreeSet<>(view.physicalVolumes());
        if (leg.physicalVolume() != null) {
            physicalVolumes.add(leg.physicalVolume());
        }
        AnsweringDevices devices = engine.legDevices(index);
        for (String physicalVolume : physicalVolumes) {
            if (devices.isLocal(physicalVolume)) {
                continue;
            }
            var device = devices.open(physicalVolume, engine.name(), view.epoch());
            if (device instanceof AutoCloseable closeable) {
                try {
                    closeable.close();
                } catch (Exception e) {
                    LOG.debug("{}: closing the probe of {}: {}", engine.name(), physicalVolume, e.getMessage());
                }
            }
        }
    }

    /** Copies every chunk the leg missed from an in-sync leg, batch by batch, then lets it join the set. */
    private void copyBack(int index) throws IOException {
        long started = System.nanoTime();
        long copied = 0;
        while (!engine.closed && engine.resyncing(index)) {
            MirrorStatus status = engine.metadata.status();
            long left = status.missedChunks(index);
            List<ChunkSpan> batch = new fivenines.model.storage.ChunkSet(status.missed(index)).first(RESYNC_BATCH);
            VolumeEngine target = engine.open.get(index);
            if (target == null) {
                return;
            }
            if (batch.isEmpty()) {
                target.flush();
                engine.withEpoch(at -> {
                    engine.metadata.resynced(at, index, List.of(), true);
                    return null;
                });
                engine.legLock.writeLock().lock();
                try {
                    Leg leg = engine.legs.get(index);
                    engine.legs.put(index, new Leg(leg.index(), leg.layer(), leg.node(), leg.physicalVolume(), LegState.IN_SYNC,
                        System.currentTimeMillis(), null, null));
                } finally {
                    engine.legLock.writeLock().unlock();
                }
                engine.retry.remove(index);
                LOG.info("{}: leg {} is in sync again ({} MiB copied)", engine.name(), index, (copied * CHUNK) >> 20);
                engine.refresh(null); // a replaced leg may have left
                return;
            }
            var chunks = new ArrayList<Long>();
            batch.forEach(span -> {
                for (long c = span.start(); c < span.end(); c++) {
                    chunks.add(c);
                }
            });
            long leftBefore = left;
            long copiedBefore = copied;
            var done = new AtomicLong();
            boolean complete = copyInParallel(chunks, index, target, () -> {
                long n = done.incrementAndGet();
                double seconds = Math.max(1e-3, (System.nanoTime() - started) / 1e9);
                engine.progress = new AttachedVolume.Progress("resync of leg " + index, (copiedBefore + n) * CHUNK,
                    Math.max(0, leftBefore - n) * CHUNK, (copiedBefore + n) * CHUNK / seconds);
                throttle(started, copiedBefore + n);
            });
            copied += done.get();
            if (!complete) {
                return;
            }
            target.flush();
            engine.withEpoch(at -> {
                engine.metadata.resynced(at, index, batch, false);
                return null;
            });
        }
    }

    /**
     * Copies {@code chunks} onto {@code target}, {@link #IN_FLIGHT} at a time (each chunk under its own
     * stripe lock, as one copy alone would be: chunks of one batch are neighbours, on distinct stripes);
     * false when the engine closed or the leg stopped resyncing meanwhile. The first failure is thrown
     * once the copies started have ended.
     */
    private boolean copyInParallel(List<Long> chunks, int index, VolumeEngine target, Runnable eachDone) throws IOException {
        var buffers = new ArrayBlockingQueue<ByteBuffer>(IN_FLIGHT);
        for (int i = 0; i < Math.min(IN_FLIGHT, chunks.size()); i++) {
            buffers.add(ByteBuffer.allocateDirect((int) CHUNK));
        }
        var stop = new java.util.concurrent.atomic.AtomicBoolean();
        var failure = new java.util.concurrent.atomic.AtomicReference<IOException>();
        try (var copies = Executors.newVirtualThreadPerTaskExecutor()) {
            for (long c : chunks) {
                ByteBuffer buffer = buffers.take(); // at most IN_FLIGHT copies at once
                if (stop.get() || engine.closed || !engine.resyncing(index)) {
                    stop.set(true);
                    break;
                }
                copies.submit(() -> {
                    try {
                        engine.copyChunk(c, List.of(target), buffer);
                        eachDone.run();
                    } catch (IOException e) {
                        failure.compareAndSet(null, e);
                        stop.set(true);
                    } finally {
                        buffers.add(buffer);
                    }
                });
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("the resync of leg " + index + " was interrupted");
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        return !stop.get();
    }

    private void throttle(long startedNanos, long copiedChunks) {
        long rate = engine.settings.resyncBytesPerSecond();
        if (rate <= 0) {
            return;
        }
        long due = startedNanos + (long) (copiedChunks * CHUNK * 1e9 / rate);
        long wait = due - System.nanoTime();
        if (wait > 0) {
            try {
                Thread.sleep(Duration.ofNanos(wait));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
