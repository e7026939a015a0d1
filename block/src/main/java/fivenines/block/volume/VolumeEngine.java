package fivenines.block.volume;

import fivenines.block.export.BlockExport;
import fivenines.block.export.Extent;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.model.storage.Attachment;
import fivenines.model.storage.ChunkMapping;
import fivenines.model.storage.ChunkRef;
import fivenines.model.storage.VolumeView;
import fivenines.model.storage.Volumes;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Serves one attached logical volume as an NBD export.
 *
 * <p>Each chunk of the volume is either the volume's own (written in place), shared with a
 * snapshot (a write copies it to a new chunk first), or unmapped (reads as zeroes; the first
 * write takes a new chunk and zeroes the rest of it). New chunks come from a small reservation
 * taken from the store in batches, so a first write waits for the store only when that runs out;
 * the new mappings are committed to the store after the data is on disk, at the latest when
 * the client flushes (NBD promises nothing about unflushed writes). When the volume group is
 * full a first write fails with ENOSPC and nothing else changes; writes to the volume's own
 * chunks never fail for space, and base:allocation reports only those as allocated.
 *
 * <p>Every request to a physical volume carries the attachment's epoch; once the store gives
 * the volume a newer one, the engine is refused everywhere (ESHUTDOWN), unless it is itself
 * still attached, in which case it takes the new epoch and retries once.
 */
public final class VolumeEngine implements AttachedVolume {
    private static final Logger LOG = LoggerFactory.getLogger(VolumeEngine.class);
    private static final long CHUNK = Volumes.CHUNK_SIZE;
    /** Chunks reserved at a time: a few at first, doubling while the volume keeps taking new ones. */
    private static final int FIRST_RESERVATION = 2;
    private static final int MAX_RESERVATION = 32;
    /** Tries of one request while the volume's epoch keeps moving under it. */
    private static final int EPOCH_RETRIES = 4;
    private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect((int) CHUNK).asReadOnlyBuffer();

    private final String name;
    private final long size;
    private final boolean readOnly;
    private final VolumeMetadata metadata;
    private final ChunkDevices devices;
    /** The volume's map as last read from the store: runs, looked up by binary search. */
    private volatile VolumeView base;
    /** Chunks this engine mapped since {@link #base} was read (they take precedence over it). */
    private final Map<Long, VolumeView.Located> written = new ConcurrentHashMap<>();
    private final Map<String, BlockExport> opened = new ConcurrentHashMap<>();
    private final ReentrantReadWriteLock quiesce = new ReentrantReadWriteLock();
    /** Writes started under {@link #quiesce} and not yet ended. */
    private final StartedRequests started = new StartedRequests();
    private final ReentrantLock[] stripes = new ReentrantLock[64];
    private final ArrayDeque<ChunkRef> reserved = new ArrayDeque<>();
    private int nextReservation = FIRST_RESERVATION;
    /** The reservation being taken in the background (guarded by {@code reserved}), or null. */
    private CompletableFuture<List<ChunkRef>> refill;
    /** Whether every chunk mapped or reserved is on this node's own PVs. */
    private volatile boolean local;
    private final List<ChunkMapping> pending = new ArrayList<>();
    private final ReentrantLock commitLock = new ReentrantLock();
    private final Thread committer;
    private final Object wakeup = new Object();
    private volatile long epoch;
    private volatile String cutOff;
    private volatile boolean closed;

    public VolumeEngine(VolumeMetadata metadata, ChunkDevices devices, Duration commitInterval) throws IOException {
        this.metadata = metadata;
        this.devices = devices;
        VolumeView view = metadata.initialView();
        this.name = view.path();
        this.size = view.size();
        this.readOnly = view.readOnly();
        this.epoch = view.epoch();
        base = view;
        local = allLocal();
        for (int i = 0; i < stripes.length; i++) {
            stripes[i] = new ReentrantLock();
        }
        committer = Thread.ofVirtual().name("volume-commit-" + name).start(() -> commitEvery(commitInterval));
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String description() {
        return "logical volume " + name;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    public long epoch() {
        return epoch;
    }

    /** Volume chunks written to new chunks whose mappings are not committed yet (lost if the engine is abandoned). */
    public List<Long> uncommittedChunks() {
        synchronized (pending) {
            return pending.stream().map(ChunkMapping::virtualChunk).toList();
        }
    }

    /** Takes away the chunks reserved here and not used (for the engine that takes over this leg). */
    List<ChunkRef> drainReserved() {
        synchronized (reserved) {
            var chunks = List.copyOf(reserved);
            reserved.clear();
            return chunks;
        }
    }

    /** Chunks reserved in the store by an engine of this leg that went away, for this one to use. */
    void adoptReserved(List<ChunkRef> chunks) {
        synchronized (reserved) {
            addReserved(chunks);
        }
    }

    /** Mappings written but not yet committed to the store. */
    public int uncommitted() {
        synchronized (pending) {
            return pending.size();
        }
    }

    // ---- I/O ----

    @Override
    public void read(long offset, ByteBuffer target) throws IOException {
        requireNotCutOff();
        int start = target.position();
        retryOnNewEpoch(() -> {
            target.position(start);
            long at = offset;
            while (target.hasRemaining()) {
                long chunk = at / CHUNK;
                int within = (int) (at % CHUNK);
                int length = (int) Math.min(target.remaining(), CHUNK - within);
                ByteBuffer part = target.slice(target.position(), length);
                VolumeView.Located located = located(chunk);
                if (located == null) {
                    part.put(ZEROES.duplicate().limit(length));
                } else {
                    device(located.chunk()).read(located.chunk().offset() + within, part);
                }
                target.position(target.position() + length);
                at += length;
            }
            target.position(start);
            return null;
        });
        target.position(target.limit());
    }

    /**
     * A read within one mapped chunk of a device already open that can start it (a remote PV):
     * started, not waited for. Null otherwise, and whenever anything would need more than that
     * (zeroes, several chunks, a device to open): {@link #read} serves those, and serves again a
     * started read that failed (an old epoch, a lost connection).
     */
    @Override
    public CompletableFuture<Void> startRead(long offset, ByteBuffer target) {
        VolumeView.Located located = startable(offset, target.remaining(), false);
        BlockExport device = located == null ? null : opened.get(located.chunk().physicalVolume());
        return device == null ? null : device.startRead(located.chunk().offset() + offset % CHUNK, target);
    }

    /**
     * A write in place (one chunk this volume owns, no copy-on-write, no new chunk), started and
     * not waited for, as {@link #startRead}; a snapshot or a new epoch waits for it to end.
     */
    @Override
    public CompletableFuture<Void> startWrite(long offset, ByteBuffer source, boolean fua) {
        if (readOnly) {
            return null;
        }
        quiesce.readLock().lock();
        try {
            VolumeView.Located located = startable(offset, source.remaining(), true);
            BlockExport device = located == null ? null : opened.get(located.chunk().physicalVolume());
            return device == null ? null : started.track(device.startWrite(located.chunk().offset() + offset % CHUNK, source, fua));
        } finally {
            quiesce.readLock().unlock();
        }
    }

    /**
     * True when a write of {@code length} bytes at {@code offset} lands in place now: in one chunk this
     * volume owns, on a device open already (no chunk to map or copy, nothing to commit).
     */
    boolean writesInPlace(long offset, int length) {
        if (readOnly) {
            return false;
        }
        VolumeView.Located located = startable(offset, length, true);
        return located != null && opened.containsKey(located.chunk().physicalVolume());
    }

    /** Where {@code [offset, offset + length)} is, when it lies in one mapped chunk (owned, for a write); else null. */
    private VolumeView.Located startable(long offset, int length, boolean write) {
        if (cutOff != null || closed || length <= 0 || offset % CHUNK + length > CHUNK) {
            return null;
        }
        VolumeView.Located located = located(offset / CHUNK);
        return located == null || (write && !located.own()) ? null : located;
    }

    @Override
    public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
        writeOrZero(offset, source.remaining(), source, false, fua);
        source.position(source.limit());
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        writeOrZero(offset, length, null, noHole, fua);
    }

    private void writeOrZero(long offset, long length, ByteBuffer source, boolean noHole, boolean fua) throws IOException {
        requireWritable();
        requireNotCutOff();
        quiesce.readLock().lock();
        try {
            boolean firstWrites = retryOnNewEpoch(() -> {
                // every new chunk the request needs is reserved before any of it is written: refused for space,
                // it has changed nothing (a write spanning chunks failed half-way and left its first part)
                int needed = newChunksFor(offset, length, source == null, noHole);
                if (needed > 0) {
                    ensureReserved(needed);
                }
                boolean any = false;
                long at = offset;
                long done = 0;
                while (done < length) {
                    long chunk = at / CHUNK;
                    int within = (int) (at % CHUNK);
                    int part = (int) Math.min(length - done, CHUNK - within);
                    ByteBuffer data = source == null ? null : source.slice(source.position() + (int) done, part);
                    any |= writeChunk(chunk, within, part, data, noHole, fua);
                    at += part;
                    done += part;
                }
                return any;
            });
            if (firstWrites && fua) {
                retryOnNewEpoch(() -> {
                    commit();
                    return null;
                });
            }
        } finally {
            quiesce.readLock().unlock();
        }
    }

    /** Writes (or zeroes, when data is null) part of one chunk; true when it took a new chunk. */
    private boolean writeChunk(long chunk, int within, int length, ByteBuffer data, boolean noHole, boolean fua)
        throws IOException {
        VolumeView.Located located = located(chunk);
        if (located != null && located.own()) {
            inPlace(located.chunk(), within, length, data, noHole, fua);
            return false;
        }
        if (located == null && data == null && !noHole) {
            return false; // reads as zeroes already
        }
        ReentrantLock stripe = stripes[(int) (chunk % stripes.length)];
        stripe.lock();
        try {
            located = located(chunk);
            if (located != null && located.own()) {
                inPlace(located.chunk(), within, length, data, noHole, fua);
                return false;
            }
            ChunkRef fresh = takeReserved();
            try {
                BlockExport target = device(fresh);
                if (within == 0 && length == CHUNK) {
                    if (data == null) {
                        target.writeZeroes(fresh.offset(), CHUNK, noHole, fua);
                    } else {
                        target.write(fresh.offset(), data.duplicate(), fua);
                    }
                } else if (located != null) {
                    ByteBuffer copy = ByteBuffer.allocateDirect((int) CHUNK);
                    device(located.chunk()).read(located.chunk().offset(), copy);
                    copy.clear().position(within);
                    copy.put(data == null ? ZEROES.duplicate().limit(length) : data.duplicate());
                    target.write(fresh.offset(), copy.clear(), fua);
                } else {
                    if (within > 0) {
                        target.writeZeroes(fresh.offset(), within, false, false);
                    }
                    if (data == null) {
                        target.writeZeroes(fresh.offset() + within, length, noHole, fua);
                    } else {
                        target.write(fresh.offset() + within, data.duplicate(), fua);
                    }
                    long tail = CHUNK - within - length;
                    if (tail > 0) {
                        target.writeZeroes(fresh.offset() + within + length, tail, false, false);
                    }
                }
            } catch (IOException | RuntimeException e) {
                giveBack(fresh);
                throw e;
            }
            synchronized (pending) {
                // together, so that a refresh from the store never drops a mapping not yet committed
                written.put(chunk, new VolumeView.Located(fresh, true));
                pending.add(new ChunkMapping(chunk, fresh));
            }
            return true;
        } finally {
            stripe.unlock();
        }
    }

    private void inPlace(ChunkRef chunk, int within, int length, ByteBuffer data, boolean noHole, boolean fua)
        throws IOException {
        if (data == null) {
            device(chunk).writeZeroes(chunk.offset() + within, length, noHole, fua);
        } else {
            device(chunk).write(chunk.offset() + within, data.duplicate(), fua);
        }
    }

    @Override
    public void flush() throws IOException {
        requireNotCutOff();
        retryOnNewEpoch(() -> {
            commit();
            return null;
        });
    }

    /** A hint only: chunks stay allocated (freeing them is left to volume removal). */
    @Override
    public void trim(long offset, long length) throws IOException {
        requireWritable();
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) {
        var extents = new ArrayList<Extent>();
        long at = offset;
        long end = Math.min(size, offset + length);
        while (at < end) {
            long chunk = at / CHUNK;
            long part = Math.min(end - at, CHUNK - at % CHUNK);
            VolumeView.Located located = located(chunk);
            boolean hole = located == null || !located.own();
            boolean zero = located == null;
            if (!extents.isEmpty() && extents.getLast().hole() == hole && extents.getLast().zero() == zero) {
                Extent last = extents.removeLast();
                extents.add(new Extent(last.length() + part, hole, zero));
            } else {
                extents.add(new Extent(part, hole, zero));
            }
            at += part;
        }
        return extents;
    }

    @Override
    public boolean canMultiConn() {
        return true;
    }

    /**
     * True while every chunk of the volume is on this node's own PVs (served from the page cache
     * like a plain PV export), so the NBD server may serve small requests in place. A first write
     * may still wait for the store when the reservation runs dry; the reservation is refilled in
     * the background ahead of need, and the server's own timing hands requests off if they get slow.
     */
    @Override
    public boolean servesFromMemory() {
        return local && cutOff == null;
    }

    private boolean allLocal() {
        Set<String> volumes = new HashSet<>(base.physicalVolumes());
        written.values().forEach(l -> volumes.add(l.chunk().physicalVolume()));
        return volumes.stream().allMatch(devices::isLocal);
    }

    /** Where chunk {@code chunk} is: written here since the last read of the store, else as the store had it. */
    private VolumeView.Located located(long chunk) {
        VolumeView.Located mine = written.get(chunk);
        return mine != null ? mine : base.locate(chunk);
    }

    @Override
    public int preferredBlockSize() {
        return 4096;
    }

    // ---- chunks, commits and epochs ----

    /**
     * A reserved chunk for a first write. The reservation is refilled in the background when it
     * runs low, so a first write waits for the store only when the volume takes chunks faster
     * than the store hands them out (or the group is full: then this write fails with ENOSPC).
     */
    private ChunkRef takeReserved() throws IOException {
        while (true) {
            CompletableFuture<List<ChunkRef>> inFlight;
            synchronized (reserved) {
                if (reserved.isEmpty() && refill == null) {
                    addReserved(metadata.reserve(epoch, nextReservation()));
                }
                if (!reserved.isEmpty()) {
                    ChunkRef chunk = reserved.poll();
                    refillIfLow();
                    return chunk;
                }
                inFlight = refill;
            }
            try {
                inFlight.join();
            } catch (java.util.concurrent.CompletionException | java.util.concurrent.CancellationException e) {
                // the background reservation failed: the next pass asks the store itself and reports why
            }
        }
    }

    /** How many chunks of this span a write (or zeroing, when {@code zeroes}) would take anew. */
    private int newChunksFor(long offset, long length, boolean zeroes, boolean noHole) {
        int count = 0;
        if (length <= 0) {
            return 0;
        }
        for (long chunk = offset / CHUNK; chunk <= (offset + length - 1) / CHUNK; chunk++) {
            VolumeView.Located located = located(chunk);
            if (located != null && located.own()) {
                continue;
            }
            if (located == null && zeroes && !noHole) {
                continue; // reads as zeroes already
            }
            count++;
        }
        return count;
    }

    /** Reserves until at least {@code count} chunks are reserved here; ENOSPC (nothing written yet) when the group has not that many. */
    private void ensureReserved(int count) throws IOException {
        while (true) {
            CompletableFuture<List<ChunkRef>> inFlight;
            synchronized (reserved) {
                if (reserved.size() >= count) {
                    return;
                }
                if (refill == null) {
                    List<ChunkRef> got = metadata.reserve(epoch, Math.min(4096, count - reserved.size()));
                    if (got.isEmpty()) {
                        throw new NbdErrorException(NbdProtocol.ENOSPC, name + ": no chunk could be reserved");
                    }
                    addReserved(got);
                    continue;
                }
                inFlight = refill;
            }
            try {
                inFlight.join();
            } catch (java.util.concurrent.CompletionException | java.util.concurrent.CancellationException e) {
                // the background reservation failed: the next pass asks the store itself and reports why
            }
        }
    }

    private int nextReservation() {
        int count = nextReservation;
        nextReservation = Math.min(MAX_RESERVATION, nextReservation * 2);
        return count;
    }

    private void addReserved(List<ChunkRef> chunks) {
        reserved.addAll(chunks);
        if (local && !chunks.stream().map(ChunkRef::physicalVolume).distinct().allMatch(devices::isLocal)) {
            local = false;
        }
    }

    /** Called holding {@code reserved}: starts a background reservation when fewer than half a batch is left. */
    private void refillIfLow() {
        if (refill != null || closed || cutOff != null || reserved.size() >= Math.max(1, nextReservation / 2)) {
            return;
        }
        int count = nextReservation();
        long at = epoch;
        var task = new CompletableFuture<List<ChunkRef>>();
        refill = task;
        Thread.ofVirtual().name("volume-reserve-" + name).start(() -> {
            List<ChunkRef> got = null;
            Throwable failure = null;
            try {
                got = metadata.reserve(at, count);
            } catch (IOException | RuntimeException e) {
                failure = e;
                LOG.debug("{}: reserving {} chunks ahead failed: {}", name, count, e.getMessage());
            }
            synchronized (reserved) {
                if (got != null) {
                    addReserved(got);
                }
                refill = null;
            }
            if (failure != null) {
                task.completeExceptionally(failure);
            } else {
                task.complete(got);
            }
        });
    }

    private void giveBack(ChunkRef chunk) {
        synchronized (reserved) {
            reserved.push(chunk);
        }
    }

    /** Puts written data on stable storage, then records the new chunks in the store. */
    public void commit() throws IOException {
        commitLock.lock();
        try {
            List<ChunkMapping> batch;
            synchronized (pending) {
                batch = List.copyOf(pending);
            }
            for (BlockExport device : List.copyOf(opened.values())) {
                device.flush();
            }
            if (batch.isEmpty()) {
                return;
            }
            metadata.commit(epoch, batch);
            synchronized (pending) {
                pending.subList(0, batch.size()).clear();
            }
        } finally {
            commitLock.unlock();
        }
    }

    /**
     * The committer is never interrupted: an interrupt during a FileChannel call closes the
     * channel, and a PV's channel is shared by every volume on it. It waits on {@code wakeup}.
     */
    private void commitEvery(Duration interval) {
        while (!closed) {
            try {
                synchronized (wakeup) {
                    if (!closed) {
                        wakeup.wait(interval.toMillis());
                    }
                }
                if (closed) {
                    return;
                }
                if (uncommitted() > 0 && cutOff == null) {
                    retryOnNewEpoch(() -> {
                        commit();
                        return null;
                    });
                }
            } catch (InterruptedException e) {
                return;
            } catch (IOException e) {
                LOG.warn("{}: committing new chunks failed (retrying): {}", name, e.getMessage());
            }
        }
    }

    /** Every request of a cut-off engine is refused, also those that would not reach a disk (zeroes, empty flushes). */
    private void requireNotCutOff() throws NbdErrorException {
        String cut = cutOff;
        if (cut != null) {
            throw new NbdErrorException(NbdProtocol.ESHUTDOWN, name + " is cut off: " + cut);
        }
    }

    private BlockExport device(ChunkRef chunk) throws IOException {
        requireNotCutOff();
        BlockExport device = opened.get(chunk.physicalVolume());
        if (device != null) {
            return device;
        }
        synchronized (opened) {
            device = opened.get(chunk.physicalVolume());
            if (device == null) {
                device = devices.open(chunk.physicalVolume(), name, epoch);
                opened.put(chunk.physicalVolume(), device);
            }
            return device;
        }
    }

    private interface Io<T> {
        T run() throws IOException;
    }

    /**
     * Runs an operation; when it is refused for an old epoch and this node is still attached, takes the
     * new one and retries. The epoch can move more than once in a row (a migration's source detaching
     * right after the destination joined), so it retries as long as each refusal brings a newer epoch.
     */
    private <T> T retryOnNewEpoch(Io<T> io) throws IOException {
        for (int attempt = 1; ; attempt++) {
            long started = epoch;
            try {
                return io.run();
            } catch (NbdErrorException e) {
                // refused for an old epoch: retry when the engine has moved on meanwhile (a refresh from the
                // store raced with this request) or when the store says it is still attached at a newer one
                if (e.errno() != NbdProtocol.ESHUTDOWN || cutOff != null || attempt >= EPOCH_RETRIES
                    || (epoch == started && !adoptNewEpoch(started))) {
                    if (e.errno() == NbdProtocol.ESHUTDOWN) {
                        LOG.warn("{}: refused at epoch {} (engine at {}, attempt {}): {}", name, started, epoch, attempt,
                            e.getMessage());
                    }
                    throw e;
                }
                LOG.info("{}: refused at epoch {}, retrying at epoch {}: {}", name, started, epoch, e.getMessage());
            }
        }
    }

    /**
     * Re-reads the store after a request begun at epoch {@code started} was refused: true when this node
     * is still attached and the engine is now at a newer epoch than that (taken from this read, or from
     * a refresh on another thread meanwhile: the source's detach at a migration's end is followed by both).
     * The engine is cut off only when the store says it is no longer attached or the volume is gone; a
     * store that cannot be read now fails this request (EIO) and leaves the engine as it is.
     */
    private boolean adoptNewEpoch(long started) throws IOException {
        VolumeView view;
        try {
            view = metadata.view();
        } catch (NbdErrorException e) {
            if (e.errno() == NbdProtocol.ESHUTDOWN) {
                cutOff = e.getMessage();
                LOG.warn("{}: cut off: {}", name, cutOff);
                return false;
            }
            throw e;
        }
        boolean attached = view.attachments().stream().map(Attachment::node).anyMatch(metadata.node()::equals);
        if (!attached) {
            cutOff = "it is no longer attached on " + metadata.node() + " (epoch " + view.epoch() + ")";
            LOG.warn("{}: {}", name, cutOff);
            return false;
        }
        refresh(view);
        return epoch != started;
    }

    /**
     * Takes a newer view of the volume from the store (another attachment committed chunks, or
     * the epoch changed): committed mappings replace what the engine had, except chunks it has
     * written and not yet committed. A view older than the engine's epoch (read before a refresh
     * that overtook it) changes nothing: the epoch never moves back.
     */
    public synchronized void refresh(VolumeView view) {
        if (view.epoch() < epoch) {
            return;
        }
        synchronized (pending) {
            Set<Long> mine = new HashSet<>();
            pending.forEach(m -> mine.add(m.virtualChunk()));
            // what the store committed wins, except chunks written here and not committed yet
            base = view;
            written.keySet().removeIf(chunk -> !mine.contains(chunk) && view.locate(chunk) != null);
        }
        recomputeLocality();
        if (view.epoch() > epoch) {
            LOG.info("{}: engine takes epoch {} (was {})", name, view.epoch(), epoch);
            epoch = view.epoch();
            retireDevices();
        }
    }

    /** Quiesces writes, commits, runs {@code action} with the current epoch, then reloads the map (a snapshot froze it). */
    public <T> T quiesced(EpochAction<T> action) throws IOException {
        quiesce.writeLock().lock();
        try {
            started.awaitNone();
            commit();
            T result = action.run(epoch);
            VolumeView view = metadata.view();
            base = view;
            written.clear();
            epoch = view.epoch();
            recomputeLocality();
            return result;
        } finally {
            quiesce.writeLock().unlock();
        }
    }

    /** Reads the map again from the store, dropping what the engine mapped since (all of it is committed: call quiesced). */
    void reload() throws IOException {
        commit();
        VolumeView view = metadata.view();
        synchronized (pending) {
            base = view;
            written.clear();
        }
        epoch = Math.max(epoch, view.epoch());
        recomputeLocality();
    }

    private void recomputeLocality() {
        boolean all = allLocal();
        synchronized (reserved) {
            local = all && reserved.stream().map(ChunkRef::physicalVolume).distinct().allMatch(devices::isLocal);
        }
    }

    /** Something done while the engine is quiesced, given its epoch. */
    @FunctionalInterface
    public interface EpochAction<T> {
        T run(long epoch) throws IOException;
    }

    private void requireWritable() throws NbdErrorException {
        if (readOnly) {
            throw new NbdErrorException(NbdProtocol.EPERM, name + " is a read-only snapshot");
        }
    }

    /** New requests open devices at the new epoch; requests in flight on the old ones finish (or are refused) first. */
    private void retireDevices() {
        List<BlockExport> old;
        synchronized (opened) {
            old = List.copyOf(opened.values());
            opened.clear();
        }
        Thread.ofVirtual().name("volume-retire-" + name).start(() -> {
            try {
                Thread.sleep(Duration.ofSeconds(30));
            } catch (InterruptedException e) {
                // close them now
            }
            old.forEach(VolumeEngine::closeQuietly);
        });
    }

    private static void closeQuietly(BlockExport device) {
        if (device instanceof AutoCloseable closeable) {
            try {
                closeable.close();
            } catch (Exception e) {
                LOG.debug("closing {} failed: {}", device.name(), e.getMessage());
            }
        }
    }

    private void closeDevices() {
        synchronized (opened) {
            opened.values().forEach(VolumeEngine::closeQuietly);
            opened.clear();
        }
    }

    /** Commits what was written (unless the engine was cut off) and closes its connections. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        quiesce.writeLock().lock();
        try {
            closed = true;
            started.awaitNone();
            wakeUpCommitter();
            if (cutOff == null) {
                commit();
            }
        } finally {
            closeDevices();
            quiesce.writeLock().unlock();
        }
    }

    private void wakeUpCommitter() {
        synchronized (wakeup) {
            wakeup.notifyAll();
        }
    }

    /** Closes without committing: the attachment is gone or was taken over. */
    public void abandon(String reason) {
        cutOff = reason;
        closed = true;
        wakeUpCommitter();
        closeDevices();
    }
}
