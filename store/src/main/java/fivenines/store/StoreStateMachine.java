package fivenines.store;

import fivenines.model.codec.Json;
import fivenines.model.command.Command;
import fivenines.model.state.ClusterState;
import fivenines.model.state.Result;
import fivenines.model.state.StateMachine;
import org.apache.ratis.proto.RaftProtos;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftGroupMemberId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.raftlog.RaftLog;
import org.apache.ratis.server.storage.FileInfo;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.SnapshotInfo;
import org.apache.ratis.statemachine.StateMachineStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.LifeCycle;
import org.apache.ratis.util.MD5FileUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Ratis adapter around the plain-Java {@link StateMachine}. Checks credentials on the
 * leader before an entry reaches the log, applies entries in order, keeps snapshots as JSON.
 */
final class StoreStateMachine extends BaseStateMachine {
    private static final Logger LOG = LoggerFactory.getLogger(StoreStateMachine.class);
    private static final int RECENT_RESULTS = 8192;
    static final String QUERY_APPLIED_INDEX = "applied-index";

    private final SimpleStateMachineStorage storage = new SimpleStateMachineStorage();
    private volatile java.nio.file.Path snapshotDir;
    private volatile boolean snapshotsLoaded;
    private volatile SnapshotInfo latestSnapshot;
    private final ClusterState state = new ClusterState();
    private final StateMachine machine = new StateMachine(state);
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    /** Held while a snapshot is begun or taken at stop, and by {@link #pause()}, which waits for one being written. */
    private final Object snapshotting = new Object();
    private final MessageAuthenticator authenticator;
    private final List<StoreListener> listeners = new CopyOnWriteArrayList<>();
    private final List<Consumer<String>> leaderListeners = new CopyOnWriteArrayList<>();
    private final ConcurrentSkipListMap<Long, CompletableFuture<Long>> waiters = new ConcurrentSkipListMap<>();
    /** The snapshots written since this replica started, newest last (at most {@link #SNAPSHOTS_KEPT}). */
    private final java.util.Deque<SnapshotWritten> snapshotsWritten = new java.util.ArrayDeque<>();
    private static final int SNAPSHOTS_KEPT = 64;
    /** The index of the snapshot loaded at start (0 for none), and what was applied after it. */
    private volatile long startSnapshotIndex;
    private volatile long firstAppliedSinceStart;
    private volatile long startLoadMillis;
    private final java.util.concurrent.atomic.LongAdder appliedSinceStart = new java.util.concurrent.atomic.LongAdder();
    /** Writes snapshots, off the thread that applies entries. */
    private final java.util.concurrent.ExecutorService snapshotWriter = java.util.concurrent.Executors.newSingleThreadExecutor(
        Thread.ofPlatform().daemon().name("store-snapshot-writer").factory());
    /** The snapshot being written, or null; under {@link #snapshotting}. */
    private CompletableFuture<Long> writing;
    private volatile boolean stopping;
    /** Runs on the snapshot writer before each file is written; tests hold it there to act as a slow disk. */
    volatile Runnable beforeSnapshotFile = () -> { };
    private final Map<Long, Object> recentResults = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, Object> eldest) {
            return size() > RECENT_RESULTS;
        }
    };

    StoreStateMachine(MessageAuthenticator authenticator) {
        this.authenticator = authenticator;
    }

    @Override
    public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage) throws IOException {
        // Ratis checks this life cycle when it installs a snapshot from the leader (RUNNING, PAUSED, RUNNING again)
        getLifeCycle().startAndTransition(() -> {
            super.initialize(server, groupId, raftStorage);
            storage.init(raftStorage);
            snapshotDir = raftStorage.getStorageDir().getStateMachineDir().toPath();
            SingleFileSnapshotInfo latest = storage.getLatestSnapshot();
            long loading = System.nanoTime();
            loadSnapshot(latest);
            startLoadMillis = (System.nanoTime() - loading) / 1_000_000;
            latestSnapshot = latest;
            startSnapshotIndex = latest == null ? 0 : latest.getIndex();
            snapshotsLoaded = true;
        }, IOException.class);
    }

    /**
     * Called before Ratis writes a snapshot sent by the leader (once per chunk). Ratis' updater
     * refuses to reload a state machine that is not PAUSED and then closes the whole server,
     * so a follower that was sent a snapshot could never catch up without this.
     */
    @Override
    public void pause() {
        // waits for a snapshot being written: Ratis is about to replace the folder it is written into
        synchronized (snapshotting) {
            finishWriting();
            if (getLifeCycle().compareAndTransition(LifeCycle.State.RUNNING, LifeCycle.State.PAUSING)) {
                getLifeCycle().transition(LifeCycle.State.PAUSED);
            }
        }
    }

    /** Loads the snapshot the leader sent, in place of everything this replica held. */
    @Override
    public void reinitialize() throws IOException {
        SingleFileSnapshotInfo snapshot = storage.loadLatestSnapshot();
        if (snapshot == null) {
            throw new IOException("no store snapshot in " + snapshotDir + " to load after the leader sent one");
        }
        loadSnapshot(snapshot);
        latestSnapshot = snapshot;
        if (getLifeCycle().compareAndTransition(LifeCycle.State.PAUSED, LifeCycle.State.STARTING)) {
            getLifeCycle().transition(LifeCycle.State.RUNNING);
        }
        completeWaiters(snapshot.getIndex());
    }

    @Override
    public StateMachineStorage getStateMachineStorage() {
        return storage;
    }

    /**
     * The newest snapshot, as last loaded or taken here. Ratis' storage lists the snapshot folder
     * again on every call while there is no snapshot yet, and each leader's log appender asks on
     * every append it sends (to see whether the follower needs a snapshot instead): a directory
     * scan per command per follower until the first snapshot. The folder only changes when this
     * replica takes a snapshot or loads one sent by the leader, and both update the storage's own
     * cache, so its cached value (null for none) is the answer.
     */
    @Override
    public SnapshotInfo getLatestSnapshot() {
        return snapshotsLoaded ? latestSnapshot : storage.getLatestSnapshot();
    }

    private void loadSnapshot(SingleFileSnapshotInfo snapshot) throws IOException {
        if (snapshot == null) {
            return;
        }
        var file = snapshot.getFile().getPath();
        if (snapshot.getFile().getFileDigest() != null) {
            MD5FileUtil.verifySavedMD5(file.toFile(), snapshot.getFile().getFileDigest());
        } else {
            // written by an earlier version killed between the snapshot and its digest: the snapshot itself
            // was synced before it got its name, and a damaged one fails to parse below
            LOG.warn("store snapshot {} has no digest file; loading it unchecked", file);
        }
        ClusterState.Snapshot restored;
        try {
            restored = Json.read(Files.readAllBytes(file), ClusterState.Snapshot.class);
        } catch (RuntimeException e) {
            throw new IOException("the store snapshot " + file + " cannot be read (" + e.getMessage() + "); move it away"
                + " to start from the previous snapshot, or wipe this node's raft folder and join the cluster again", e);
        }
        lock.writeLock().lock();
        try {
            state.restore(restored);
            setLastAppliedTermIndex(snapshot.getTermIndex());
        } finally {
            lock.writeLock().unlock();
        }
        LOG.info("restored cluster state from snapshot at index {}", snapshot.getIndex());
    }

    /**
     * Called by Ratis on the thread that applies entries, once enough entries were applied since
     * the last snapshot (and at a graceful stop). Serialising and writing a large state there held
     * every commit up for as long as the write took; instead, the state is copied here (its parts
     * are immutable records, so the copy is a copy of the maps that hold them) and written on a
     * thread of its own. Ratis is told nothing was taken (a negative index) until the write is done;
     * it asks again after the next entries it applies, and is then given the index, at which it
     * purges the log. At a graceful stop the snapshot is written at once.
     */
    @Override
    public long takeSnapshot() throws IOException {
        synchronized (snapshotting) {
            if (getLifeCycle().getCurrentState() != LifeCycle.State.RUNNING) {
                // paused for a snapshot from the leader, which replaces the folder: none is taken meanwhile
                // (a negative index tells Ratis that nothing was taken)
                LOG.debug("no snapshot while the state machine is {}", getLifeCycle().getCurrentState());
                return RaftLog.INVALID_LOG_INDEX;
            }
            if (writing != null) {
                if (!writing.isDone() && !stopping) {
                    return RaftLog.INVALID_LOG_INDEX; // still being written
                }
                long written = finishWriting();
                if (written > 0 && !stopping) {
                    return written;
                }
            }
            Capture capture = capture();
            if (stopping) {
                return write(capture);
            }
            writing = CompletableFuture.supplyAsync(() -> {
                try {
                    return write(capture);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, snapshotWriter);
            return RaftLog.INVALID_LOG_INDEX;
        }
    }

    /** Waits for the snapshot being written, if any; its index, or -1 when it failed. Under {@link #snapshotting}. */
    private long finishWriting() {
        if (writing == null) {
            return RaftLog.INVALID_LOG_INDEX;
        }
        try {
            return writing.join();
        } catch (java.util.concurrent.CompletionException | java.util.concurrent.CancellationException e) {
            LOG.warn("writing a store snapshot failed; the next one is taken from the state as it is then", e.getCause());
            return RaftLog.INVALID_LOG_INDEX;
        } finally {
            writing = null;
        }
    }

    /** The state as of the last applied entry, apart from the live one. */
    private record Capture(TermIndex last, ClusterState.Snapshot snapshot, long startNanos, long copiedNanos) {
    }

    private Capture capture() {
        long started = System.nanoTime();
        lock.readLock().lock();
        try {
            return new Capture(getLastAppliedTermIndex(), state.snapshot(), started, System.nanoTime());
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Whether a snapshot is being written now. */
    boolean writingSnapshot() {
        synchronized (snapshotting) {
            return writing != null && !writing.isDone();
        }
    }

    /** Tells the state machine that its server is being closed: the snapshot taken at stop is written at once. */
    void stopping() {
        stopping = true;
    }

    @Override
    public void close() throws IOException {
        synchronized (snapshotting) {
            finishWriting(); // a snapshot half written is left as a temporary file only, but one being written is let finish
        }
        snapshotWriter.shutdown();
        super.close();
    }

    private long write(Capture capture) throws IOException {
        TermIndex last = capture.last();
        beforeSnapshotFile.run();
        var file = storage.getSnapshotFile(last.getTerm(), last.getIndex()).toPath();
        var temporary = file.resolveSibling(file.getFileName() + ".tmp");
        // streamed into the file with its digest computed on the way: no copy of the whole state as one
        // array, and the file is not read back for the digest
        var md5 = org.apache.ratis.io.MD5Hash.newDigester();
        long bytes;
        try (var channel = java.nio.channels.FileChannel.open(temporary, java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.TRUNCATE_EXISTING, java.nio.file.StandardOpenOption.WRITE);
             var out = new java.security.DigestOutputStream(new java.io.BufferedOutputStream(
                 java.nio.channels.Channels.newOutputStream(channel), 1 << 16), md5)) {
            // the file is flushed and synced below, not closed by the writer
            Json.mapper().writer().without(com.fasterxml.jackson.core.JsonGenerator.Feature.AUTO_CLOSE_TARGET)
                .writeValue(out, capture.snapshot());
            out.flush();
            bytes = channel.position();
            channel.force(true);
        }
        var digest = new org.apache.ratis.io.MD5Hash(md5.digest());
        // the digest file goes first: Ratis takes the newest snapshot file as the latest snapshot, and a
        // process killed between the two writes must not leave that file without its digest
        MD5FileUtil.saveMD5File(file.toFile(), digest);
        Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE);
        var taken = new SingleFileSnapshotInfo(new FileInfo(file, digest), last);
        storage.updateLatestSnapshot(taken);
        latestSnapshot = taken;
        recordSnapshot(new SnapshotWritten(last.getIndex(), bytes, capture.startNanos(), capture.copiedNanos(), System.nanoTime()));
        return last.getIndex();
    }

    private void recordSnapshot(SnapshotWritten written) {
        synchronized (snapshotsWritten) {
            snapshotsWritten.addLast(written);
            while (snapshotsWritten.size() > SNAPSHOTS_KEPT) {
                snapshotsWritten.removeFirst();
            }
        }
        LOG.info("wrote the store snapshot at index {}: {} bytes in {} ms ({} ms of it holding applies)", written.index(),
            written.bytes(), (written.endNanos() - written.startNanos()) / 1_000_000,
            (written.copiedNanos() - written.startNanos()) / 1_000_000);
    }

    /** The snapshots this replica wrote since it started, oldest first (the last 64). */
    List<SnapshotWritten> snapshotsWritten() {
        synchronized (snapshotsWritten) {
            return List.copyOf(snapshotsWritten);
        }
    }

    /** What this replica applied since it started: the snapshot it loaded, the first entry applied after it, and how many. */
    StartReplay replay() {
        return new StartReplay(startSnapshotIndex, firstAppliedSinceStart, appliedSinceStart.sum(), startLoadMillis);
    }

    @Override
    public TransactionContext startTransaction(RaftClientRequest request) throws IOException {
        byte[] payload;
        Object decoded;
        try {
            payload = authenticator.open(request.getMessage().getContent().toByteArray());
            decoded = decode(payload);
        } catch (SecurityException | IllegalArgumentException e) {
            throw new IOException(e.getMessage(), e);
        }
        // the decoded command rides along: on the leader Ratis hands this same context to
        // applyTransaction for the entry made from it, which then need not decode the entry again
        return TransactionContext.newBuilder()
            .setStateMachine(this)
            .setClientRequest(request)
            .setLogData(ByteString.copyFrom(payload))
            .setStateMachineContext(decoded)
            .build();
    }

    /** The commands of one entry, batched by {@link CommandBatcher}; on the wire and in the log a JSON array. */
    record Batch(List<Command> commands) {
    }

    /** An entry's bytes: one command (a JSON object) or a {@link Batch} (a JSON array). */
    static Object decode(byte[] payload) {
        for (byte b : payload) {
            if (b == '[') {
                return new Batch(List.of(Json.read(payload, Command[].class)));
            }
            if (!Character.isWhitespace(b)) {
                break;
            }
        }
        return Json.read(payload, Command.class);
    }

    /** The bytes of a batch's entry. */
    static byte[] encode(List<Command> commands) {
        try {
            return Json.mapper().writerFor(Command[].class).writeValueAsBytes(commands.toArray(Command[]::new));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("cannot encode a batch of store commands: " + e.getMessage(), e);
        }
    }

    /** The results of a batch's entry, in its commands' order. */
    private record BatchResults(List<Result> results) {
    }

    @Override
    public CompletableFuture<Message> applyTransaction(TransactionContext transaction) {
        RaftProtos.LogEntryProto entry = transaction.getLogEntry();
        long index = entry.getIndex();
        Object decoded = decodedOf(transaction);
        List<Command> commands = decoded instanceof Batch batch ? batch.commands() : List.of((Command) decoded);
        List<Result> results;
        if (firstAppliedSinceStart == 0) {
            firstAppliedSinceStart = index;
        }
        appliedSinceStart.increment();
        lock.writeLock().lock();
        try {
            results = decoded instanceof Batch ? machine.applyBatch(commands, index) : List.of(machine.apply(commands.getFirst(), index));
            synchronized (recentResults) {
                // before the index moves: a submitter that sees it applied finds its result
                recentResults.put(index, decoded instanceof Batch ? new BatchResults(results) : results.getFirst());
            }
            updateLastAppliedTermIndex(entry.getTerm(), index);
        } finally {
            lock.writeLock().unlock();
        }
        for (int i = 0; i < commands.size(); i++) {
            for (StoreListener listener : listeners) {
                try {
                    listener.applied(index, commands.get(i), results.get(i), state);
                } catch (RuntimeException e) {
                    LOG.warn("store listener {} failed at index {}", listener, index, e);
                }
            }
        }
        completeWaiters(index);
        String summary;
        if (decoded instanceof Batch) {
            summary = "a batch of " + commands.size();
        } else {
            summary = results.getFirst() instanceof Result.Rejected r ? r.reason() + ": " + r.message() : "applied";
        }
        // the reply names the entry's own index: the client waits for that entry, not for whatever index the reply carries
        return CompletableFuture.completedFuture(Message.valueOf(index + "\n" + summary));
    }

    /**
     * The command or batch of an entry: the one decoded when the leader took the request (that
     * context is only ever given back for the entry made from it), else decoded from the entry's bytes.
     */
    static Object decodedOf(TransactionContext transaction) {
        Object context = transaction.getStateMachineContext();
        if (context instanceof Command || context instanceof Batch) {
            return context;
        }
        return decode(transaction.getLogEntry().getStateMachineLogEntry().getLogData().toByteArray());
    }

    @Override
    public void notifyTermIndexUpdated(long term, long index) {
        super.notifyTermIndexUpdated(term, index);
        completeWaiters(index);
    }

    @Override
    public CompletableFuture<Message> query(Message request) {
        try {
            String query = new String(authenticator.open(request.getContent().toByteArray()), java.nio.charset.StandardCharsets.UTF_8);
            if (!QUERY_APPLIED_INDEX.equals(query)) {
                return CompletableFuture.failedFuture(new IOException("unknown store query '" + query + "'"));
            }
            return CompletableFuture.completedFuture(Message.valueOf(Long.toString(getLastAppliedTermIndex().getIndex())));
        } catch (SecurityException e) {
            return CompletableFuture.failedFuture(new IOException(e.getMessage(), e));
        }
    }

    @Override
    public void notifyLeaderChanged(RaftGroupMemberId groupMemberId, RaftPeerId newLeaderId) {
        String leader = newLeaderId == null ? null : newLeaderId.toString();
        leaderListeners.forEach(l -> l.accept(leader));
    }

    long appliedTerm() {
        var last = getLastAppliedTermIndex();
        return last == null ? -1 : last.getTerm();
    }

    CompletableFuture<Long> awaitApplied(long index) {
        long applied = getLastAppliedTermIndex().getIndex();
        if (applied >= index) {
            return CompletableFuture.completedFuture(applied);
        }
        var future = waiters.computeIfAbsent(index, i -> new CompletableFuture<>());
        completeWaiters(getLastAppliedTermIndex().getIndex()); // it may have moved while we registered
        return future;
    }

    private void completeWaiters(long applied) {
        var ready = waiters.headMap(applied, true);
        while (!ready.isEmpty()) {
            var entry = ready.pollFirstEntry();
            if (entry != null) {
                entry.getValue().complete(applied);
            }
        }
    }

    /** The result of the command at an entry, or of the one at {@code position} in its batch; null when no longer kept. */
    Result resultAt(long index, int position) {
        Object kept;
        synchronized (recentResults) {
            kept = recentResults.get(index);
        }
        if (kept instanceof BatchResults batch) {
            return position >= 0 && position < batch.results().size() ? batch.results().get(position) : null;
        }
        return kept instanceof Result result && position <= 0 ? result : null;
    }

    <T> T read(Function<ClusterState, T> reader) {
        lock.readLock().lock();
        try {
            return reader.apply(state);
        } finally {
            lock.readLock().unlock();
        }
    }

    long appliedIndex() {
        return getLastAppliedTermIndex().getIndex();
    }

    void addListener(StoreListener listener) {
        listeners.add(listener);
    }

    void removeListener(StoreListener listener) {
        listeners.remove(listener);
    }

    void addLeaderListener(Consumer<String> listener) {
        leaderListeners.add(listener);
    }
}
