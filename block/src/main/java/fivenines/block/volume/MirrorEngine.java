package fivenines.block.volume;

import fivenines.block.export.Extent;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.model.storage.Attachment;
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
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Serves a mirrored volume: each leg is a {@link VolumeEngine} of its own (thin allocation and
 * copy-on-write happen on every leg alike), and this engine sends every write, zeroing and flush
 * to every leg in the set (and to a leg resyncing) in parallel. A write is acknowledged only when
 * every leg in the set has it; a leg that fails or does not answer within the leg timeout is first
 * taken out of the set by a store commit, and only then is the write acknowledged. When that commit
 * cannot be made (the store has no quorum here), the write fails: a node cut off from the store
 * never goes on writing alone (invariant 1).
 *
 * <p>Reads come from the local in-sync leg when there is one, otherwise in turn from the in-sync
 * legs. An {@link ActivityLog} records the regions being written before the first write into each;
 * chunks written while a leg is out are recorded as missed. When a leg's node is back, the engine
 * copies back what it missed only (throttled, in the background, resumed after a restart), then
 * the leg joins the set by a commit. Regions a previous writer left open are made alike on every
 * leg before anything is served.
 */
public final class MirrorEngine implements AttachedVolume {
    private static final Logger LOG = LoggerFactory.getLogger(MirrorEngine.class);
    private static final long CHUNK = Volumes.CHUNK_SIZE;
    /** Regions the activity log keeps open (1 GiB of 4 MiB regions; DRBD's default covers about 4.7 GiB). */
    private static final int MAX_OPEN_REGIONS = 256;
    /** A region no write entered for this long is closed in the background (a crash leaves it to repair, in the background too). */
    private static final Duration IDLE_REGION = Duration.ofMinutes(5);
    private static final int EPOCH_RETRIES = 4;
    /** The longest wait before a leg that failed is tried again. */
    private static final long MAX_RETRY_MS = 4_000;

    /** Settings of a mirror engine. */
    public record Settings(Duration commitInterval, Duration legTimeout, long resyncBytesPerSecond) {
        public static Settings defaults() {
            return new Settings(Duration.ofMillis(200), Duration.ofSeconds(2), 200L << 20);
        }
    }

    final MirrorMetadata metadata;
    final ChunkDevices devices;
    /** The leg timeout and resync rate take a change at once; the commit interval is its leg engines' from their start. */
    volatile Settings settings;
    private final String name;
    private final long size;
    private final boolean readOnly;
    private volatile long epoch;
    /** Legs as this engine sees them (the store's state, moved ahead by the engine's own commits). */
    final Map<Integer, Leg> legs = new TreeMap<>();
    /** Engines of the legs written to: in the set, or resyncing. */
    final Map<Integer, VolumeEngine> open = new ConcurrentHashMap<>();
    /** Leg state changes take it exclusively; I/O shares it. */
    final ReentrantReadWriteLock legLock = new ReentrantReadWriteLock();
    /** Snapshots quiesce all I/O. */
    final ReentrantReadWriteLock quiesce = new ReentrantReadWriteLock();
    /** Requests started (on the sole leg; a mirror's reads on a remote leg and its writes on every leg) under {@link #quiesce} and not yet ended. */
    private final StartedRequests started = new StartedRequests();
    /** Requests started on remote legs: a leg silent for the leg timeout with requests under way is late. */
    private final LegWatch watch = new LegWatch();
    private final Thread watcher;
    /** Per chunk stripe: guest writes share it, a resync copy of a chunk takes it alone. */
    final ReentrantReadWriteLock[] stripes = new ReentrantReadWriteLock[64];
    /** Per chunk stripe: writes started under its lock shared and not yet ended, which {@link #lockStripe} waits for. */
    private final StartedRequests[] stripeStarted = new StartedRequests[stripes.length];
    final ActivityLog activity;
    private final ExecutorService fanout = Executors.newVirtualThreadPerTaskExecutor();
    private final AtomicInteger turn = new AtomicInteger();
    /** Chunk spans of writes being fanned out now (a leg dropped meanwhile may or may not have them). */
    private final Map<Long, ChunkSpan> inFlight = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicLong requests = new java.util.concurrent.atomic.AtomicLong();
    private final Object wakeup = new Object();
    private final Thread worker;
    private final MirrorResync resync = new MirrorResync(this);
    /** Regions a previous writer may have left different on the legs, made alike in the background. */
    private final CrashRepair crashRepair = new CrashRepair(this);
    volatile Progress progress;
    /** Per leg that failed: when a resync may be tried again, and the wait after the next failure (doubling to 4 s). */
    final Map<Integer, long[]> retry = new ConcurrentHashMap<>();
    /** Chunks a dropped leg's engine had reserved and not used: the store still counts them as that leg's. */
    final Map<Integer, List<fivenines.model.storage.ChunkRef>> spare = new ConcurrentHashMap<>();
    /** Per leg: its devices, noting when it last answered. */
    private final Map<Integer, AnsweringDevices> legDevices = new ConcurrentHashMap<>();
    private volatile String cutOff;
    volatile boolean closed;
    /** Mirrored writes started on every leg without a thread waiting (for tests). */
    private final java.util.concurrent.atomic.LongAdder startedWrites = new java.util.concurrent.atomic.LongAdder();
    /** Copied by resyncs and repairs since the engine started (for tests and benchmarks). */
    private final java.util.concurrent.atomic.AtomicLong copiedBytes = new java.util.concurrent.atomic.AtomicLong();

    public MirrorEngine(MirrorMetadata metadata, ChunkDevices devices, Settings settings) throws IOException {
        this.metadata = metadata;
        this.devices = devices;
        this.settings = settings;
        for (int i = 0; i < stripes.length; i++) {
            stripes[i] = new ReentrantReadWriteLock();
            stripeStarted[i] = new StartedRequests();
        }
        MirrorStatus status = metadata.status();
        Leg first = status.legs().stream().filter(Leg::inSync).findFirst().orElseThrow(() -> new NbdErrorException(
            NbdProtocol.EIO, "no leg of the volume is in sync; nothing can be served"));
        VolumeView view = metadata.view(first.index());
        this.name = view.path();
        this.size = view.size();
        this.readOnly = view.readOnly();
        this.epoch = view.epoch();
        long chunks = (size + CHUNK - 1) / CHUNK;
        // regions this node had open before a restart may be half-written: repaired like a gone writer's
        var leftOver = new ArrayList<ChunkSpan>(status.active().getOrDefault(metadata.node(), List.of()));
        activity = new ActivityLog(MAX_OPEN_REGIONS, new ActivityLog.Recorder() {
            @Override
            public void record(List<ChunkSpan> activate, List<ChunkSpan> retire, Map<Integer, List<ChunkSpan>> missed)
                throws IOException {
                withEpoch(at -> {
                    metadata.markRegions(at, activate, retire, missed);
                    return null;
                });
            }

            @Override
            public void flushLegs() throws IOException {
                flushAll();
            }
        }, ActivityLog.regionsOf(leftOver));
        activity.volumeChunks(chunks);
        for (Leg leg : status.legs()) {
            legs.put(leg.index(), leg);
            if (leg.state() != LegState.OUT) {
                open.put(leg.index(), new VolumeEngine(metadata.leg(leg.index()), legDevices(leg.index()), settings.commitInterval()));
            }
        }
        var repair = new fivenines.model.storage.ChunkSet(status.repair());
        leftOver.forEach(repair::add);
        if (!repair.isEmpty() && !readOnly) {
            // legs out of the set missed whatever was half-written there too
            var missed = new TreeMap<Integer, List<ChunkSpan>>();
            legs.values().stream().filter(l -> !l.inSync()).forEach(l -> missed.put(l.index(), repair.spans()));
            if (!missed.isEmpty()) {
                withEpoch(at -> {
                    metadata.markRegions(at, List.of(), List.of(), missed);
                    return null;
                });
            }
            // repaired in the background: until then reads of those chunks come from one leg only
            int source = readLeg();
            crashRepair.start(source, repair);
            LOG.info("{}: {} MiB a previous writer may have left half-written are repaired from leg {} in the background",
                name, (repair.size() * CHUNK) >> 20, source);
        }
        worker = Thread.ofVirtual().name("mirror-" + name).start(this::work);
        watcher = Thread.ofVirtual().name("mirror-watch-" + name).start(this::watchStarted);
    }

    /**
     * Every half leg timeout: a remote leg with started requests that has not answered for the leg
     * timeout while another leg did ({@link LegWatch}) leaves the set, as a waited-for request's leg
     * does: its devices closed, the requests fail and are served again the waited-for way (a read from
     * a leg in sync, a write on the legs left). Runs until {@link #close} has seen every started request end.
     */
    private void watchStarted() {
        while (true) {
            long timeout = settings.legTimeout().toNanos();
            try {
                Thread.sleep(java.time.Duration.ofNanos(Math.max(timeout / 2, 1_000_000)));
            } catch (InterruptedException e) {
                return;
            }
            var late = watch.late(System.nanoTime(), timeout, leg -> legDevices(leg).lastAnswer(), List.copyOf(open.keySet()));
            for (var leg : late.entrySet()) {
                try {
                    dropLeg(leg.getKey(), "left requests started on it unanswered for " + settings.legTimeout().toMillis() + " ms (silent for "
                        + Duration.ofNanos(leg.getValue()).toMillis() + " ms)", List.of());
                } catch (IOException | RuntimeException e) {
                    LOG.warn("{}: {}", name, e.getMessage());
                }
            }
        }
    }

    /** New settings from the cluster config (an operator changing the resync rate or the leg timeout while a volume is in use). */
    public void settings(Settings next) {
        settings = java.util.Objects.requireNonNull(next, "settings");
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String description() {
        return "mirrored logical volume " + name;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public long epoch() {
        return epoch;
    }

    @Override
    public boolean canMultiConn() {
        return true;
    }

    @Override
    public int preferredBlockSize() {
        return 4096;
    }

    /** Legs as the engine sees them now. */
    public List<Leg> legs() {
        legLock.readLock().lock();
        try {
            return List.copyOf(legs.values());
        } finally {
            legLock.readLock().unlock();
        }
    }

    /** Whether the volume has more than one leg (else every request goes straight to the one, as on a plain volume). */
    private boolean mirrored() {
        legLock.readLock().lock();
        try {
            return legs.size() > 1;
        } finally {
            legLock.readLock().unlock();
        }
    }

    /** The one leg's engine while the volume is not mirrored, else null. */
    private VolumeEngine sole() {
        legLock.readLock().lock();
        try {
            return legs.size() == 1 ? open.get(legs.keySet().iterator().next()) : null;
        } finally {
            legLock.readLock().unlock();
        }
    }

    /** Like a plain volume's: true while its one leg is on this node's own PVs (a mirror hands requests to threads). */
    @Override
    public boolean servesFromMemory() {
        VolumeEngine one = sole();
        return one != null && cutOff == null && one.servesFromMemory();
    }

    /** Chunks written and not yet committed to the store, on all legs. */
    public int uncommitted() {
        return open.values().stream().mapToInt(VolumeEngine::uncommitted).sum();
    }

    /** Mirrored writes started on every leg (none waited for by a thread) since the engine started. */
    long startedWrites() {
        return startedWrites.sum();
    }

    /** Bytes copied by resyncs and repairs since the engine started. */
    public long copiedBytes() {
        return copiedBytes.get();
    }

    @Override
    public Progress progress() {
        return progress;
    }

    // ---- I/O ----

    @Override
    public void read(long offset, ByteBuffer target) throws IOException {
        requireNotCutOff();
        int start = target.position();
        quiesce.readLock().lock();
        try {
            VolumeEngine one = sole();
            if (one != null) {
                one.read(offset, target);
                return;
            }
            Integer repairSource = crashRepair.sourceFor(offset / CHUNK, (target.remaining() + offset % CHUNK + CHUNK - 1) / CHUNK);
            for (int attempt = 0; ; attempt++) {
                int leg = repairSource != null && open.containsKey(repairSource) ? repairSource : readLeg();
                VolumeEngine engine = open.get(leg);
                if (engine == null) {
                    continue;
                }
                try {
                    target.position(start);
                    if (localLeg(List.of(leg)) != null) {
                        engine.read(offset, target.duplicate().position(start));
                    } else {
                        timed(leg, () -> {
                            engine.read(offset, target.duplicate().position(start));
                            return null;
                        });
                    }
                    target.position(target.limit());
                    return;
                } catch (IOException e) {
                    if (!legFailure(e) || attempt >= 3) {
                        throw e;
                    }
                    dropLeg(leg, "reading failed: " + e.getMessage(), List.of());
                }
            }
        } finally {
            quiesce.readLock().unlock();
        }
    }

    /**
     * Started without waiting: on the sole leg while the volume has one (its engine decides whether
     * it can), else on the in-sync leg a read goes to when that is a remote one, watched by
     * {@link #watch} as a waited-for read is timed. Null (then {@link #read} serves it) for a local
     * leg, which this thread reads at once, and for chunks a crash repair has not made alike yet.
     * A started read that fails (its leg dropped, its connection lost) is served again by {@link #read}.
     */
    @Override
    public CompletableFuture<Void> startRead(long offset, ByteBuffer target) {
        if (cutOff != null || closed) {
            return null;
        }
        quiesce.readLock().lock();
        try {
            VolumeEngine one = sole();
            if (one != null) {
                return started.track(one.startRead(offset, target));
            }
            if (crashRepair.sourceFor(offset / CHUNK, (target.remaining() + offset % CHUNK + CHUNK - 1) / CHUNK) != null) {
                return null;
            }
            Integer leg = inSyncLegOrNull();
            VolumeEngine engine = leg == null ? null : open.get(leg);
            if (engine == null || localLeg(List.of(leg)) != null) {
                return null;
            }
            return started.track(watch.watch(leg, engine.startRead(offset, target)));
        } finally {
            quiesce.readLock().unlock();
        }
    }

    /**
     * Started without waiting: on the sole leg while the volume has one (its engine decides whether it
     * can), else as {@link #startMirrored} starts it on every leg; null for FUA (waited for by
     * {@link #write}, which flushes each leg) and whatever needs more than a write in place.
     */
    @Override
    public CompletableFuture<Void> startWrite(long offset, ByteBuffer source, boolean fua) {
        if (readOnly || cutOff != null || closed) {
            return null;
        }
        quiesce.readLock().lock();
        try {
            VolumeEngine one = sole();
            if (one != null) {
                return started.track(one.startWrite(offset, source, fua));
            }
            return fua ? null : started.track(startMirrored(offset, source));
        } finally {
            quiesce.readLock().unlock();
        }
    }

    /**
     * A mirrored write within one chunk that every leg written to holds in place, into a region the
     * activity log has open, while no copy of the chunk is under way: its remote legs' parts started on
     * their connections ({@link #watch}ed), this node's own leg written on this thread, and done once
     * every leg has it, no thread waiting. Null, and nothing done, when anything needs more (a region to
     * open, a chunk to map or copy, a copy of the chunk, fewer than two legs to write). A part that fails
     * or cannot start fails the whole once every part has ended; the write is then served again by
     * {@link #write}, which writes the same bytes on every leg again and takes a failed leg out of the set
     * before it is acknowledged. A leg out records the chunk as missed, as there.
     */
    private CompletableFuture<Void> startMirrored(long offset, ByteBuffer source) {
        int length = source.remaining();
        if (length == 0 || offset % CHUNK + length > CHUNK) {
            return null;
        }
        long chunk = offset / CHUNK;
        long region = ActivityLog.region(chunk);
        int stripe = (int) (chunk % stripes.length);
        var lock = stripes[stripe];
        if (lock.isWriteLocked() || lock.hasQueuedThreads() || !lock.readLock().tryLock()) {
            return null; // a copy of a chunk of the stripe is under way or waiting: the write waits its turn in write()
        }
        try {
            // a leg out misses the chunk whether it is started here or written by write(): recorded either way
            Map<Integer, VolumeEngine> targets = writeTargets(chunk, 1);
            if (targets.size() < 2 || !targets.values().stream().allMatch(e -> e.writesInPlace(offset, length))
                || !activity.tryEnter(region, region)) {
                return null;
            }
            Integer local = localLeg(targets.keySet());
            long id = requests.incrementAndGet();
            inFlight.put(id, new ChunkSpan(chunk, 1));
            var parts = new ArrayList<CompletableFuture<Void>>();
            for (var target : targets.entrySet()) {
                if (local != null && local.equals(target.getKey())) {
                    continue;
                }
                CompletableFuture<Void> part;
                try {
                    part = target.getValue().startWrite(offset, source.duplicate(), false);
                } catch (RuntimeException e) {
                    part = CompletableFuture.failedFuture(e);
                }
                if (part == null) {
                    part = CompletableFuture.failedFuture(new IOException("leg " + target.getKey() + " could not start the write"));
                }
                parts.add(watch.watch(target.getKey(), part));
            }
            if (local != null) {
                try {
                    targets.get(local).write(offset, source.duplicate(), false);
                } catch (IOException | RuntimeException e) {
                    parts.add(CompletableFuture.failedFuture(e));
                }
            }
            var whole = new CompletableFuture<Void>();
            stripeStarted[stripe].track(whole);
            startedWrites.increment();
            CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).whenComplete((ignored, failure) -> {
                inFlight.remove(id);
                activity.exit(region, region);
                if (failure == null) {
                    whole.complete(null);
                } else {
                    whole.completeExceptionally(failure);
                }
            });
            return whole;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The leg reads go to, or null when no leg is in sync. */
    private Integer inSyncLegOrNull() {
        try {
            return readLeg();
        } catch (NbdErrorException none) {
            return null;
        }
    }

    int readLeg() throws NbdErrorException {
        legLock.readLock().lock();
        try {
            var inSync = legs.values().stream().filter(Leg::inSync).filter(l -> open.containsKey(l.index())).toList();
            if (inSync.isEmpty()) {
                throw new NbdErrorException(NbdProtocol.EIO, name + " has no leg in sync to read from");
            }
            for (Leg leg : inSync) {
                if (metadata.node().equals(leg.node())) {
                    return leg.index();
                }
            }
            return inSync.get(Math.floorMod(turn.getAndIncrement(), inSync.size())).index();
        } finally {
            legLock.readLock().unlock();
        }
    }

    @Override
    public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
        int length = source.remaining();
        int at = source.position();
        mutate(offset, length, new LegIo() {
            @Override
            public void run(int leg, VolumeEngine engine) throws IOException {
                engine.write(offset, source.duplicate().position(at), fua);
            }

            @Override
            public CompletableFuture<Void> start(int leg, VolumeEngine engine) {
                return engine.startWrite(offset, source.duplicate().position(at), fua);
            }
        });
        source.position(source.limit());
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        mutate(offset, length, (leg, engine) -> engine.writeZeroes(offset, length, noHole, fua));
    }

    @Override
    public void flush() throws IOException {
        requireNotCutOff();
        quiesce.readLock().lock();
        try {
            fanOut(-1, 0, (leg, engine) -> engine.flush());
        } finally {
            quiesce.readLock().unlock();
        }
    }

    /** A hint only, as on a plain volume. */
    @Override
    public void trim(long offset, long length) throws IOException {
        requireWritable();
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        VolumeEngine engine = open.get(readLeg());
        if (engine == null) {
            throw new NbdErrorException(NbdProtocol.EIO, name + " has no leg in sync to read from");
        }
        return engine.blockStatus(offset, length);
    }

    private interface LegIo {
        void run(int leg, VolumeEngine engine) throws IOException;

        /** The same started on a remote leg without a thread of its own, or null (then {@link #run} runs on one). */
        default CompletableFuture<Void> start(int leg, VolumeEngine engine) {
            return null;
        }
    }

    private void mutate(long offset, long length, LegIo io) throws IOException {
        requireWritable();
        requireNotCutOff();
        if (length <= 0) {
            return;
        }
        long firstChunk = offset / CHUNK;
        long lastChunk = (offset + length - 1) / CHUNK;
        long firstRegion = ActivityLog.region(firstChunk);
        long lastRegion = ActivityLog.region(lastChunk);
        quiesce.readLock().lock();
        try {
            VolumeEngine one = sole();
            if (one != null) {
                // one leg: nothing to keep alike, no activity log (a leg added later copies everything first)
                io.run(legs.keySet().iterator().next(), one);
                return;
            }
            activity.enter(firstRegion, lastRegion);
            try {
                List<ReentrantReadWriteLock> locked = lockStripes(firstChunk, lastChunk);
                try {
                    fanOut(firstChunk, lastChunk - firstChunk + 1, io);
                } finally {
                    locked.forEach(l -> l.readLock().unlock());
                }
            } finally {
                activity.exit(firstRegion, lastRegion);
            }
        } finally {
            quiesce.readLock().unlock();
        }
    }

    private List<ReentrantReadWriteLock> lockStripes(long firstChunk, long lastChunk) {
        var indexes = new java.util.TreeSet<Integer>();
        for (long c = firstChunk; c <= lastChunk && indexes.size() < stripes.length; c++) {
            indexes.add((int) (c % stripes.length));
        }
        var locked = new ArrayList<ReentrantReadWriteLock>();
        for (int i : indexes) {
            stripes[i].readLock().lock();
            locked.add(stripes[i]);
        }
        return locked;
    }

    /**
     * Runs {@code io} on every leg written to, in parallel, and returns once each leg in the set has
     * it. A leg that fails or is too slow leaves the set (a commit) before this returns; a resyncing
     * one goes back out. Chunks {@code firstChunk} to {@code firstChunk + chunks} are recorded as missed
     * by every leg that did not get them ({@code chunks} 0: a flush, which misses nothing).
     */
    private void fanOut(long firstChunk, long chunks, LegIo io) throws IOException {
        Map<Integer, VolumeEngine> targets = writeTargets(firstChunk, chunks);
        if (targets.isEmpty()) {
            throw new NbdErrorException(NbdProtocol.EIO, name + " has no leg to write to");
        }
        if (targets.size() == 1) {
            // no other leg to go on with: the request is the leg's, and so is its outcome
            var only = targets.entrySet().iterator().next();
            io.run(only.getKey(), only.getValue());
            return;
        }
        long id = requests.incrementAndGet();
        if (chunks > 0) {
            inFlight.put(id, new ChunkSpan(firstChunk, chunks));
        }
        try {
            fanOutTo(targets, firstChunk, chunks, io);
        } finally {
            inFlight.remove(id);
        }
    }

    /**
     * The legs a write of chunks {@code firstChunk} to {@code firstChunk + chunks} goes to now (in the
     * set, or resyncing), by index; the chunks are recorded as missed by the others while the leg set
     * cannot change, so a resync starting meanwhile finds them ({@code chunks} 0: a flush, which misses nothing).
     */
    private Map<Integer, VolumeEngine> writeTargets(long firstChunk, long chunks) {
        var targets = new TreeMap<Integer, VolumeEngine>();
        legLock.readLock().lock();
        try {
            for (Leg leg : legs.values()) {
                VolumeEngine engine = open.get(leg.index());
                if (leg.state() == LegState.OUT || engine == null) {
                    if (chunks > 0) {
                        activity.missed(leg.index(), firstChunk, chunks);
                    }
                } else {
                    targets.put(leg.index(), engine);
                }
            }
        } finally {
            legLock.readLock().unlock();
        }
        return targets;
    }

    /**
     * Runs {@code io} on every target leg at once (this node's own leg on the caller's thread) and drops
     * the legs that failed or fell silent. A leg is late once it has not answered for the leg timeout,
     * counted from its last answer (each request its devices finished, each device opened), from the
     * end of this node's own leg, or from the first leg that finished, whichever is latest: a leg that
     * keeps answering through a large request (a cold connection, a busy node) is slow, not gone, up
     * to a hard limit. While no leg has finished the slowness is this node's or the whole cluster's,
     * not one leg's: nothing is dropped, and the request fails only once no leg has answered anything for
     * the hard limit (or after 120 s in all).
     */
    private void fanOutTo(Map<Integer, VolumeEngine> targets, long firstChunk, long chunks, LegIo io) throws IOException {
        var pending = new TreeMap<Integer, Future<Void>>();
        var finished = new java.util.concurrent.LinkedBlockingQueue<Integer>();
        Integer inline = localLeg(targets.keySet());
        for (var target : targets.entrySet()) {
            int leg = target.getKey();
            if (inline != null && inline == leg) {
                continue;
            }
            pending.put(leg, startOrSubmit(leg, target.getValue(), io, finished));
        }
        long started = System.nanoTime();
        long timeout = settings.legTimeout().toNanos();
        long hardDeadline = started + Math.max(timeout * 10, Duration.ofSeconds(20).toNanos());
        var failed = new TreeMap<Integer, String>();
        IOException refusal = null;
        long since = started;
        boolean anyDone = false;
        if (inline != null) {
            // this node's own leg on this thread (a local disk does not go silent the way a network does)
            try {
                io.run(inline, targets.get(inline));
                anyDone = true;
            } catch (IOException e) {
                if (legFailure(e)) {
                    failed.put(inline, String.valueOf(e.getMessage()));
                } else {
                    refusal = e;
                }
            }
            since = System.nanoTime();
        }
        long silentLimit = Math.max(timeout * 10, Duration.ofSeconds(20).toNanos());
        while (!pending.isEmpty()) {
            long deadline = hardDeadline;
            if (anyDone) {
                for (int leg : pending.keySet()) {
                    deadline = Math.min(deadline, Math.max(since, legDevices(leg).lastAnswer()) + timeout);
                }
            } else {
                // nothing can be acknowledged yet, so nothing is lost by waiting: the request fails only once no leg
                // has answered anything for the hard limit (a loaded node writing a large request to cold legs), or
                // after 120 s in all
                long lastHeard = since;
                for (int leg : pending.keySet()) {
                    lastHeard = Math.max(lastHeard, legDevices(leg).lastAnswer());
                }
                deadline = Math.min(started + Duration.ofSeconds(120).toNanos(), Math.max(hardDeadline, lastHeard + silentLimit));
            }
            long now = System.nanoTime();
            if (now - deadline >= 0) {
                break; // the legs still out are late
            }
            Integer done;
            try {
                done = finished.poll(deadline - now, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new NbdErrorException(NbdProtocol.EIO, name + ": interrupted");
            }
            Future<Void> f = done == null ? null : pending.remove(done);
            if (f == null) {
                continue; // a deadline passed: answers since may have moved it
            }
            try {
                f.get();
                if (!anyDone) {
                    since = Math.max(since, System.nanoTime()); // one finished: the others have the leg timeout from now on
                }
                anyDone = true;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new NbdErrorException(NbdProtocol.EIO, name + ": interrupted");
            } catch (ExecutionException e) {
                IOException cause = cause(e);
                if (legFailure(cause)) {
                    failed.put(done, String.valueOf(cause.getMessage()));
                } else {
                    refusal = cause;
                }
            }
        }
        if (!pending.isEmpty() && !anyDone && refusal == null) {
            throw new NbdErrorException(NbdProtocol.EIO, name + ": no leg finished the request within "
                + Duration.ofNanos(System.nanoTime() - started).toMillis() + " ms; no leg was dropped");
        }
        for (int leg : pending.keySet()) {
            long silent = System.nanoTime() - Math.max(since, legDevices(leg).lastAnswer());
            failed.put(leg, "did not answer within " + settings.legTimeout().toMillis() + " ms (silent for "
                + Duration.ofNanos(silent).toMillis() + " ms)");
        }
        if (refusal != null) {
            // not the leg's fault (no space, a read-only snapshot, the epoch moved away): the request fails as it is
            throw refusal;
        }
        for (var failure : failed.entrySet()) {
            dropLeg(failure.getKey(), failure.getValue(), chunks > 0 ? List.of(new ChunkSpan(firstChunk, chunks)) : List.of());
        }
    }

    /**
     * Runs {@code io} on a remote leg: started on the leg's connection when its engine can (no thread
     * waits for it; the reply completes it), else on a thread of its own. A start that failed is run
     * again as a waited-for request on a thread, which retries and reports as before.
     */
    private Future<Void> startOrSubmit(int leg, VolumeEngine engine, LegIo io, java.util.Queue<Integer> finished) {
        CompletableFuture<Void> started = io.start(leg, engine);
        if (started == null) {
            return fanout.submit(() -> {
                try {
                    io.run(leg, engine);
                    return null;
                } finally {
                    finished.add(leg);
                }
            });
        }
        var result = new CompletableFuture<Void>();
        started.whenComplete((ignored, failure) -> {
            if (failure == null) {
                result.complete(null);
                finished.add(leg);
                return;
            }
            try {
                fanout.execute(() -> {
                    try {
                        io.run(leg, engine);
                        result.complete(null);
                    } catch (Throwable e) {
                        result.completeExceptionally(e);
                    } finally {
                        finished.add(leg);
                    }
                });
            } catch (java.util.concurrent.RejectedExecutionException closing) {
                result.completeExceptionally(failure);
                finished.add(leg);
            }
        });
        return result;
    }

    private static IOException cause(ExecutionException e) {
        Throwable cause = e.getCause();
        return cause instanceof IOException x ? x : new IOException(String.valueOf(cause), cause);
    }

    /** The devices of leg {@code index}, noting its answers (one per leg, shared by its engines). */
    AnsweringDevices legDevices(int index) {
        return legDevices.computeIfAbsent(index, i -> new AnsweringDevices(devices));
    }

    /** Of these legs, the one on this node, or null. */
    private Integer localLeg(java.util.Collection<Integer> indexes) {
        legLock.readLock().lock();
        try {
            for (Integer index : indexes) {
                Leg leg = legs.get(index);
                if (leg != null && metadata.node().equals(leg.node())) {
                    return index;
                }
            }
            return null;
        } finally {
            legLock.readLock().unlock();
        }
    }

    /** The leg a copy reads from failed (its node, disk or network): the copy cannot go on from it. */
    static final class SourceLegFailed extends IOException {
        final int leg;

        SourceLegFailed(int leg, IOException cause) {
            super("reading leg " + leg + " failed: " + cause.getMessage(), cause);
            this.leg = leg;
        }
    }

    /** An error that is the leg's (its node, disk or network), as opposed to a refusal of the request itself. */
    private static boolean legFailure(IOException e) {
        if (e instanceof NbdErrorException nbd) {
            return nbd.errno() != NbdProtocol.ENOSPC && nbd.errno() != NbdProtocol.EPERM && nbd.errno() != NbdProtocol.ESHUTDOWN
                && nbd.errno() != NbdProtocol.EINVAL;
        }
        return true;
    }

    /** Runs a read on a remote leg; late, as a write's leg is, once the leg has been silent for the leg timeout. */
    private <T> T timed(int leg, java.util.concurrent.Callable<T> call) throws IOException {
        Future<T> f = fanout.submit(call);
        long started = System.nanoTime();
        long timeout = settings.legTimeout().toNanos();
        long hardDeadline = started + Math.max(timeout * 10, Duration.ofSeconds(20).toNanos());
        try {
            while (true) {
                long deadline = Math.min(hardDeadline, Math.max(started, legDevices(leg).lastAnswer()) + timeout);
                long now = System.nanoTime();
                if (now - deadline >= 0) {
                    f.cancel(true);
                    throw new IOException("leg " + leg + " did not answer within " + settings.legTimeout().toMillis() + " ms");
                }
                try {
                    return f.get(deadline - now, TimeUnit.NANOSECONDS);
                } catch (TimeoutException e) {
                    // answers meanwhile may have moved the deadline
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NbdErrorException(NbdProtocol.EIO, name + ": interrupted");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException(String.valueOf(e.getCause()), e.getCause());
        }
    }

    // ---- legs leaving and joining ----

    /**
     * Takes a leg out of the set by a store commit (invariant 1). When the commit cannot be made the
     * caller's write fails; the last in-sync leg is never dropped (the commit is refused: the write fails).
     */
    void dropLeg(int index, String reason, List<ChunkSpan> missed) throws IOException {
        legLock.writeLock().lock();
        try {
            Leg leg = legs.get(index);
            if (leg == null || leg.state() == LegState.OUT) {
                return;
            }
            String why = "leg " + index + (leg.node() == null ? "" : " on " + leg.node()) + ": " + reason;
            LOG.warn("{}: {}; taking it out of the set", name, why);
            // besides the failed write: writes still in flight (the leg may not get them), and chunks the
            // leg's engine mapped without committing yet (lost with it)
            var all = new fivenines.model.storage.ChunkSet(missed);
            inFlight.values().forEach(all::add);
            VolumeEngine failing = open.get(index);
            if (failing != null) {
                failing.uncommittedChunks().forEach(c -> all.add(c, 1));
            }
            // and what a previous writer may have left half-written, not yet made alike on every leg
            crashRepair.pendingSpans().forEach(all::add);
            try {
                withEpoch(at -> {
                    metadata.dropLeg(at, index, why, all.spans());
                    return null;
                });
            } catch (IOException e) {
                throw new NbdErrorException(NbdProtocol.EIO, name + ": " + why + ", and it cannot be taken out of the set ("
                    + e.getMessage() + "); the write is not acknowledged");
            }
            legs.put(index, new Leg(leg.index(), leg.layer(), leg.node(), leg.physicalVolume(), LegState.OUT,
                System.currentTimeMillis(), why, leg.replaces()));
            VolumeEngine engine = open.remove(index);
            if (engine != null) {
                spare.merge(index, engine.drainReserved(), (older, newer) -> {
                    var held = new ArrayList<>(older);
                    held.addAll(newer);
                    return held;
                });
                engine.abandon("leg " + index + " left the set");
            }
            crashRepair.legLeft(index, inSyncLegOrNull());
            // tried again after 2 s, then every 4 s: a node back from a restart is resynced within seconds, and a try at a
            // node still down costs one connection attempt (MirrorResync reaches the leg before anything is committed)
            deferRetry(index);
            progress = null;
        } finally {
            legLock.writeLock().unlock();
        }
        adoptEpoch();
        wake();
    }

    /** After this engine moved the epoch: every leg engine takes it now rather than at its next refusal. */
    private void adoptEpoch() throws IOException {
        for (var e : open.entrySet()) {
            VolumeView view = metadata.view(e.getKey());
            e.getValue().refresh(view);
            epoch = Math.max(epoch, view.epoch());
        }
    }

    interface EpochCall<T> {
        T call(long epoch) throws IOException;
    }

    /** A store command at the engine's epoch; when refused for an old one while still attached here, at the new one. */
    <T> T withEpoch(EpochCall<T> call) throws IOException {
        for (int attempt = 1; ; attempt++) {
            long at = epoch;
            try {
                return call.call(at);
            } catch (NbdErrorException e) {
                if (e.errno() != NbdProtocol.ESHUTDOWN || attempt >= EPOCH_RETRIES) {
                    throw e;
                }
                VolumeView view = metadata.view(anyLeg());
                boolean attached = view.attachments().stream().map(Attachment::node).anyMatch(metadata.node()::equals);
                if (!attached || view.epoch() <= at) {
                    if (!attached) {
                        cutOff = "it is no longer attached on " + metadata.node();
                    }
                    throw e;
                }
                epoch = view.epoch();
            }
        }
    }

    int anyLeg() {
        legLock.readLock().lock();
        try {
            return legs.keySet().iterator().next();
        } finally {
            legLock.readLock().unlock();
        }
    }

    @Override
    public void refresh(VolumeView ignored) throws IOException {
        MirrorStatus status = metadata.status();
        var gone = new ArrayList<VolumeEngine>();
        legLock.writeLock().lock();
        try {
            var present = new HashSet<Integer>();
            for (Leg leg : status.legs()) {
                present.add(leg.index());
                Leg mine = legs.get(leg.index());
                // the store's word wins, except a leg this engine took out (its commit is what the store says too)
                legs.put(leg.index(), mine != null && mine.state() == LegState.OUT && leg.state() != LegState.IN_SYNC
                    ? mine : leg);
            }
            for (Integer index : List.copyOf(legs.keySet())) {
                if (!present.contains(index)) {
                    legs.remove(index);
                    VolumeEngine engine = open.remove(index);
                    if (engine != null) {
                        gone.add(engine);
                    }
                }
            }
        } finally {
            legLock.writeLock().unlock();
        }
        gone.forEach(e -> e.abandon("leg removed from " + name));
        adoptEpoch();
        wake();
    }

    // ---- background: recording missed chunks, resync ----

    private void wake() {
        synchronized (wakeup) {
            wakeup.notifyAll();
        }
    }

    private void work() {
        long backoffUntil = 0;
        while (!closed) {
            try {
                synchronized (wakeup) {
                    if (!closed) {
                        wakeup.wait(1000);
                    }
                }
                if (closed || cutOff != null) {
                    return;
                }
                if (activity.hasMissed()) {
                    activity.recordMissed();
                }
                if (!readOnly && mirrored() && activity.openRegions() > 0) {
                    activity.closeIdle(IDLE_REGION);
                }
                if (!readOnly && repairPending() > 0) {
                    // repairs first: a resync copies from the legs being repaired
                    while (!closed && crashRepair.step()) {
                        // batch after batch
                    }
                    continue;
                }
                if (!readOnly && System.currentTimeMillis() >= backoffUntil && !resync.resyncOnce()) {
                    backoffUntil = System.currentTimeMillis() + 3000;
                }
            } catch (InterruptedException e) {
                return;
            } catch (IOException | RuntimeException e) {
                if (!closed) {
                    LOG.warn("{}: background work failed (retrying): {}", name, e.getMessage());
                }
                backoffUntil = System.currentTimeMillis() + 3000;
            }
        }
    }

    /** The next resync of leg {@code index} is tried after 2 s, then every 4 s. */
    void deferRetry(int index) {
        long[] wait = retry.computeIfAbsent(index, i -> new long[] {0, 1000});
        synchronized (wait) {
            wait[1] = Math.min(MAX_RETRY_MS, wait[1] * 2);
            wait[0] = System.currentTimeMillis() + wait[1];
        }
    }

    /** The leg goes back out without a commit (it was never taken in by one). */
    void backOut(int index, String why) {
        legLock.writeLock().lock();
        try {
            Leg leg = legs.get(index);
            if (leg != null) {
                legs.put(index, new Leg(leg.index(), leg.layer(), leg.node(), leg.physicalVolume(), LegState.OUT,
                    leg.since(), why, leg.replaces()));
            }
            VolumeEngine engine = open.remove(index);
            if (engine != null) {
                engine.abandon(why);
            }
        } finally {
            legLock.writeLock().unlock();
        }
    }

    boolean resyncing(int index) {
        legLock.readLock().lock();
        try {
            Leg leg = legs.get(index);
            return leg != null && leg.state() == LegState.RESYNCING && open.containsKey(index);
        } finally {
            legLock.readLock().unlock();
        }
    }

    /**
     * Holds guest writes to chunk {@code c}'s stripe off: takes its lock alone, then waits for the writes
     * started under it before (they end on other threads). Unlock the lock returned.
     */
    ReentrantReadWriteLock lockStripe(long c) {
        int i = (int) (c % stripes.length);
        stripes[i].writeLock().lock();
        stripeStarted[i].awaitNone();
        return stripes[i];
    }

    /** Copies chunk {@code c} as an in-sync leg holds it onto {@code targets}, with guest writes to it held off. */
    void copyChunk(long c, List<VolumeEngine> targets, ByteBuffer buffer) throws IOException {
        ReentrantReadWriteLock stripe = lockStripe(c);
        try {
            Integer repairSource = crashRepair.sourceFor(c, 1);
            int from = repairSource != null ? repairSource : readLeg();
            VolumeEngine source = open.get(from);
            if (source == null) {
                throw new IOException("no in-sync leg to copy from");
            }
            long offset = c * CHUNK;
            int length = (int) Math.min(CHUNK, size - offset);
            boolean zero;
            buffer.clear().limit(length);
            try {
                List<Extent> extents = source.blockStatus(offset, length);
                zero = extents.size() == 1 && extents.getFirst().zero() && extents.getFirst().length() >= length;
                if (!zero) {
                    source.read(offset, buffer);
                    buffer.flip();
                }
            } catch (IOException e) {
                throw legFailure(e) ? new SourceLegFailed(from, e) : e;
            }
            for (VolumeEngine target : targets) {
                if (zero) {
                    target.writeZeroes(offset, length, false, false);
                } else {
                    target.write(offset, buffer.duplicate(), false);
                }
            }
            copiedBytes.addAndGet(length);
        } finally {
            stripe.writeLock().unlock();
        }
    }

    /** Chunks that wait for their repair (0 when none). */
    public long repairPending() {
        return crashRepair.pending();
    }

    // ---- check and repair ----

    /** What a check found: chunks compared, those whose legs differ, and whether they were rewritten. */
    public record CheckResult(long chunksChecked, List<ChunkSpan> mismatched, long mismatchedChunks, Integer repairedFrom,
                              List<Integer> legsCompared) {
    }

    /**
     * Compares the in-sync legs chunk by chunk, online; with {@code repair}, rewrites each mismatched
     * chunk on the other legs from leg {@code from} (see {@link MirrorCheck}).
     */
    public CheckResult check(boolean repair, Integer from) throws IOException {
        return new MirrorCheck(this).run(repair, from);
    }

    // ---- quiescing, closing ----

    void flushAll() throws IOException {
        for (VolumeEngine engine : List.copyOf(open.values())) {
            engine.flush();
        }
    }

    @Override
    public <T> T quiesced(VolumeEngine.EpochAction<T> action) throws IOException {
        quiesce.writeLock().lock();
        try {
            started.awaitNone();
            flushAll();
            T result = action.run(epoch);
            for (VolumeEngine engine : List.copyOf(open.values())) {
                engine.reload();
            }
            return result;
        } finally {
            quiesce.writeLock().unlock();
        }
    }

    void requireNotCutOff() throws NbdErrorException {
        String cut = cutOff;
        if (cut != null) {
            throw new NbdErrorException(NbdProtocol.ESHUTDOWN, name + " is cut off: " + cut);
        }
    }

    private void requireWritable() throws NbdErrorException {
        if (readOnly) {
            throw new NbdErrorException(NbdProtocol.EPERM, name + " is a read-only snapshot");
        }
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        quiesce.writeLock().lock();
        try {
            closed = true;
            started.awaitNone();
            wake();
            if (cutOff == null && !readOnly) {
                activity.closeAll();
            }
        } finally {
            for (VolumeEngine engine : open.values()) {
                try {
                    engine.close();
                } catch (IOException e) {
                    LOG.warn("{}: closing a leg failed: {}", name, e.getMessage());
                }
            }
            open.clear();
            fanout.shutdownNow();
            watcher.interrupt();
            quiesce.writeLock().unlock();
        }
    }

    @Override
    public void abandon(String reason) {
        cutOff = reason;
        closed = true;
        wake();
        open.values().forEach(e -> e.abandon(reason));
        open.clear();
        fanout.shutdownNow();
        watcher.interrupt();
    }
}
