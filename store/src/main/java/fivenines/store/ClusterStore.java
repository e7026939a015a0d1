package fivenines.store;

import fivenines.model.codec.Json;
import fivenines.model.command.Command;
import fivenines.model.state.ClusterState;
import fivenines.model.state.Result;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.grpc.GrpcFactory;
import org.apache.ratis.grpc.GrpcTlsConfig;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.grpc.GrpcConfigKeys;
import org.apache.ratis.proto.RaftProtos;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.protocol.SetConfigurationRequest;
import org.apache.ratis.protocol.exceptions.StateMachineException;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.ExitUtils;
import org.apache.ratis.util.SizeInBytes;
import org.apache.ratis.util.TimeDuration;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * One replica of the cluster store: an embedded Ratis server holding the cluster state. Commands
 * and linearizable reads go straight to that server while it leads, and otherwise through Ratis
 * clients to whichever replica leads.
 */
public final class ClusterStore implements AutoCloseable {

    /** How the replica starts. */
    public enum Start {
        /** A new one-node group with this node as its only voter. */
        NEW_GROUP,
        /** An empty replica that waits for a leader to add it to an existing group. */
        JOIN_GROUP,
        /** Recover the group, log and snapshots from disk. */
        RECOVER
    }

    private final StoreConfig config;
    private final RaftGroupId groupId;
    private final RaftProperties properties;
    private final StoreStateMachine stateMachine;
    private final RaftServer server;
    private final MessageAuthenticator authenticator;
    /**
     * Several clients, used in turn: a Ratis client's requests form one ordered stream, which the
     * leader takes one at a time and answers in order, so one client made every command of this
     * node wait for the one before it.
     */
    private final List<StoreClient> lanes;
    private final AtomicInteger nextLane = new AtomicInteger();
    private final LocalLeader localLeader;
    private final LongAdder throughClients = new LongAdder();
    private final StoreHealth health;
    /** The signed query for the leader's applied index (the same bytes every time). */
    private volatile Message appliedIndexQuery;
    /** Sends the queries that follow one that ended, off the Ratis thread that ended it (see {@link SharedReads}). */
    private final java.util.concurrent.ExecutorService readSender = java.util.concurrent.Executors.newThreadPerTaskExecutor(
        Thread.ofVirtual().name("store-read-", 0).factory());
    private final SharedReads sharedReads = new SharedReads(this::queryAppliedIndex, readSender);

    static final int CLIENT_LANES = 4;
    /**
     * Whether config changes and lock commands submitted while others are on their way share log
     * entries ({@link CommandBatcher}). On by default; {@code -Dnines.store.batching=false} sends
     * each command as an entry of its own.
     */
    static final boolean BATCHING = Boolean.parseBoolean(System.getProperty("nines.store.batching", "true"));
    /** Entries of batched commands this replica has on their way at once, and commands per entry at most. */
    static final int BATCH_ENTRIES_IN_FLIGHT = 2;
    static final int BATCH_COMMANDS = 32;
    private final CommandBatcher batcher = new CommandBatcher(this::submitEntry, this::batchedFailure,
        BATCH_ENTRIES_IN_FLIGHT, BATCH_COMMANDS);
    /**
     * Whether the leader hands commands to its own server (see {@link LocalLeader}) instead of sending
     * them through a Ratis client. Off by default: with it on, two short runs of the store's fault test
     * found a lock history that no order explains (a grant while held, a refusal while free), and one
     * run with it off found none; until the cause is known, commands go through clients, whose retries
     * Ratis recognises by call id. {@code -Dnines.store.direct-writes=true} turns it on.
     */
    static final boolean DIRECT_WRITES = Boolean.parseBoolean(System.getProperty("nines.store.direct-writes", "false"));

    /** Ratis' parameters: with mutual TLS for the server, its peers and every client when the node has a certificate. */
    static Parameters parameters(StoreConfig config) {
        if (config.tls() == null) {
            return new Parameters();
        }
        return GrpcFactory.newRaftParameters(new GrpcTlsConfig(config.tls().keys(), config.tls().trust(), true));
    }

    private ClusterStore(StoreConfig config, UUID groupId, Start start) throws IOException {
        this.config = config;
        this.groupId = RaftGroupId.valueOf(groupId);
        this.authenticator = new MessageAuthenticator(config.secret());
        this.appliedIndexQuery = Message.valueOf(ByteString.copyFrom(
            authenticator.sign(StoreStateMachine.QUERY_APPLIED_INDEX.getBytes(StandardCharsets.UTF_8))));
        this.properties = properties(config);
        this.stateMachine = new StoreStateMachine(authenticator);
        // a read query in flight at a leader change most likely went to the old leader: send a new one now
        stateMachine.addLeaderListener(leader -> {
            if (leader != null) {
                sharedReads.leaderChanged();
            }
        });
        RaftPeer self = peer(config.nodeName(), config.raftAddress(), RaftProtos.RaftPeerRole.FOLLOWER);
        RaftGroup group = start == Start.NEW_GROUP ? RaftGroup.valueOf(this.groupId, self) : RaftGroup.valueOf(this.groupId);
        this.server = RaftServer.newBuilder()
            .setServerId(RaftPeerId.valueOf(config.nodeName()))
            .setGroup(group)
            .setStateMachine(stateMachine)
            .setProperties(properties)
            .setParameters(parameters(config))
            .setOption(start == Start.RECOVER ? RaftStorage.StartupOption.RECOVER : RaftStorage.StartupOption.FORMAT)
            .build();
        var lanes = new ArrayList<StoreClient>();
        for (int i = 0; i < CLIENT_LANES; i++) {
            lanes.add(new StoreClient(this.groupId, properties, () -> parameters(config), this::division, config.requestTimeout(),
                InstantSource.system()));
        }
        this.lanes = List.copyOf(lanes);
        this.localLeader = new LocalLeader(server, this.groupId, RaftPeerId.valueOf(config.nodeName()), this::division);
        this.health = new StoreHealth(InstantSource.system());
        try {
            server.start();
        } catch (IOException | RuntimeException e) {
            // the group's division may be running already (its timers, its lock on the storage folder)
            StoreClient.closeQuietly(server);
            lanes.forEach(StoreClient::close);
            throw e;
        }
    }

    static {
        // Ratis ends the JVM (System.exit) when, for one, its gRPC server cannot bind its port. In
        // an agent that runs on the thread of the request that started the replica, and the exit
        // then waits for shutdown hooks that may need what that thread holds. Ratis throws an
        // ExitException instead; start() reports it as a StoreException like any other failure.
        ExitUtils.disableSystemExit();
    }

    /**
     * Starts a replica.
     *
     * @throws StoreException when it did not start (nothing of it is left running); its cause
     *                        chain holds the original failure, such as a {@link java.net.BindException}
     */
    public static ClusterStore start(StoreConfig config, UUID groupId, Start start) {
        try {
            return new ClusterStore(config, groupId, start);
        } catch (IOException | ExitUtils.ExitException e) {
            throw new StoreException("cannot start the store replica '" + config.nodeName() + "' on "
                + config.raftAddress() + " with data in " + config.dataDir() + ": " + rootMessage(e), false, e);
        }
    }

    private static RaftProperties properties(StoreConfig config) {
        var properties = new RaftProperties();
        RaftServerConfigKeys.setStorageDir(properties, List.of(config.dataDir().toFile()));
        GrpcConfigKeys.Server.setHost(properties, config.raftHost());
        GrpcConfigKeys.Server.setPort(properties, config.raftPort());
        // Elections wait 1-2 s: short enough for quick failover, long enough that a busy
        // two-core machine (QEMU under TCG, GC pauses) does not cause needless elections.
        RaftServerConfigKeys.Rpc.setTimeoutMin(properties, TimeDuration.valueOf(1000, TimeUnit.MILLISECONDS));
        RaftServerConfigKeys.Rpc.setTimeoutMax(properties, TimeDuration.valueOf(2000, TimeUnit.MILLISECONDS));
        RaftServerConfigKeys.Rpc.setRequestTimeout(properties, TimeDuration.valueOf(3000, TimeUnit.MILLISECONDS));
        RaftServerConfigKeys.Snapshot.setAutoTriggerEnabled(properties, true);
        RaftServerConfigKeys.Snapshot.setAutoTriggerThreshold(properties, config.snapshotEvery());
        RaftServerConfigKeys.Snapshot.setRetentionFileNum(properties, 2);
        RaftServerConfigKeys.Log.setPurgeUptoSnapshotIndex(properties, true);
        RaftServerConfigKeys.Log.setSegmentSizeMax(properties, SizeInBytes.valueOf("8MB"));
        // Ratis' log metadata (an entry after each commit that records the commit index) stays on: it
        // costs a second log write per command, but without it a restarted replica applies nothing
        // until it hears from a leader, and the agent's own start (PV exports, volume engines of
        // running guests) then reads a state that is not there yet. Turning it off waits for that start
        // to wait for the store.
        // Ratis hands each client request to a thread of this pool, which checks it and appends it to
        // the log under the server's monitor. With a thread per request, concurrent commands queued
        // on that monitor, and on two busy cores a holder that lost its core held everyone up (JFR:
        // seconds per second of JavaMonitorEnter in RaftServerImpl.appendTransaction). One thread
        // appends them in turn; what it appends is synced and sent to followers in batches as before.
        RaftServerConfigKeys.ThreadPool.setClientCached(properties, false);
        RaftServerConfigKeys.ThreadPool.setClientSize(properties, 1);
        // Send each append at once instead of waiting to batch: commits take one round trip.
        RaftServerConfigKeys.Log.Appender.setWaitTimeMin(properties, TimeDuration.ZERO);
        RaftServerConfigKeys.Read.setOption(properties, RaftServerConfigKeys.Read.Option.LINEARIZABLE);
        // A linearizable read needs the leader to know it still leads. Without a lease it waits for
        // the next heartbeat round (up to half an election timeout, ~500 ms here); with one it answers
        // at once while a majority acknowledged it within 0.9 x the minimum election timeout (no
        // follower can have started an election by then; clocks are only assumed to run at the same rate).
        RaftServerConfigKeys.Read.setLeaderLeaseEnabled(properties, true);
        RaftServerConfigKeys.Read.setLeaderLeaseTimeoutRatio(properties, 0.9);
        RaftClientConfigKeys.Rpc.setRequestTimeout(properties, TimeDuration.valueOf(3000, TimeUnit.MILLISECONDS));
        return properties;
    }

    static RaftPeer peer(String name, String raftAddress, RaftProtos.RaftPeerRole role) {
        return RaftPeer.newBuilder().setId(name).setAddress(raftAddress).setStartupRole(role).build();
    }

    private RaftServer.Division division() {
        try {
            return server.getDivision(groupId);
        } catch (IOException e) {
            throw new StoreException("the store replica '" + config.nodeName() + "' has no group " + groupId, false, e);
        }
    }

    /**
     * Submits a command; completes once it is committed and applied on this replica too,
     * with the result this replica computed (so the caller reads its own write here).
     */
    public CompletableFuture<Result> submit(Command command) {
        long started = System.nanoTime();
        CompletableFuture<Result> submitted = submitTimed(command);
        CommitObserver observer = commitObserver;
        if (observer != null) {
            submitted.whenComplete((result, error) -> observer.committed(System.nanoTime() - started, error == null));
        }
        return submitted;
    }

    /** Told of every command submitted here: how long until it was applied here, or until it failed. */
    public interface CommitObserver {
        void committed(long nanos, boolean applied);
    }

    private volatile CommitObserver commitObserver;

    /** Sets who is told of each command's commit time (the agent's metrics); one at a time. */
    public void observeCommits(CommitObserver observer) {
        this.commitObserver = observer;
    }

    private CompletableFuture<Result> submitTimed(Command command) {
        if (BATCHING && CommandBatcher.batches(command)) {
            return batcher.submit(command);
        }
        return submitEntry(List.of(command)).thenApply(List::getFirst);
    }

    /**
     * Sends commands as one entry (one alone as itself, several as a batch); completes with their
     * results once the entry is applied here, or fails, each failure told as for the first command.
     */
    private CompletableFuture<List<Result>> submitEntry(List<Command> commands) {
        Command command = commands.getFirst();
        byte[] bytes = commands.size() == 1 ? Json.bytes(command) : StoreStateMachine.encode(commands);
        Message message = Message.valueOf(ByteString.copyFrom(authenticator.sign(bytes)));
        CompletableFuture<Long> index;
        if (DIRECT_WRITES && localLeader.leads()) {
            CompletableFuture<RaftClientReply> local;
            try {
                local = localLeader.write(message);
            } catch (IOException | RuntimeException e) {
                local = CompletableFuture.failedFuture(e);
            }
            index = local.handle((r, error) -> r != null && LocalLeader.notReady(r) ? null : appliedAt(command, null, null, r, error))
                .thenCompose(at -> at != null ? CompletableFuture.completedFuture(at) : sendThroughClient(command, message));
        } else {
            index = sendThroughClient(command, message);
        }
        return index
            .orTimeout(config.requestTimeout().toMillis(), TimeUnit.MILLISECONDS)
            .exceptionally(error -> {
                // a failure translated above passes through as it is; the time-out becomes "may have happened"
                Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
                StoreException translated = translate(command, cause);
                if (!(cause instanceof StoreException)) {
                    health.failed(translated.getMessage());
                }
                throw translated;
            })
            .thenCompose(at -> stateMachine.awaitApplied(at).thenApply(applied -> {
                var results = new ArrayList<Result>(commands.size());
                for (int i = 0; i < commands.size(); i++) {
                    Result result = stateMachine.resultAt(at, commands.size() == 1 ? -1 : i);
                    if (result == null) {
                        throw new StoreException("the result of " + describe(commands.get(i)) + " at index " + at
                            + " is no longer cached; read the state to see its effect", true, null);
                    }
                    results.add(result);
                }
                return results;
            }));
    }

    /** A batched command's failure, told for that command (the entry failed for all of its commands alike). */
    private Throwable batchedFailure(Command command, Throwable error) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (cause instanceof StoreException s) {
            // told of the entry's first command: told again of this one, from the same cause
            if (s.getCause() != null && !(s.getCause() instanceof StoreException)) {
                return translate(command, s.getCause());
            }
            return new StoreException(describe(command) + " (sent with others in one entry): " + s.getMessage(), s.mayHaveHappened(), s);
        }
        return translate(command, cause);
    }

    private StoreClient nextLane() {
        return lanes.get(Math.floorMod(nextLane.getAndIncrement(), lanes.size()));
    }

    private CompletableFuture<Long> sendThroughClient(Command command, Message message) {
        StoreClient lane = nextLane();
        RaftClient client;
        throughClients.increment();
        try {
            client = lane.current();
            // the timeout goes on a copy: the client's own future stays open while Ratis still retries it
            return lane.track(client, client.async().send(message)).copy()
                .orTimeout(config.requestTimeout().toMillis(), TimeUnit.MILLISECONDS)
                .handle((r, error) -> appliedAt(command, lane, client, r, error));
        } catch (StoreException e) {
            health.failed(e.getMessage());
            return CompletableFuture.failedFuture(e);
        } catch (RuntimeException e) {
            var failure = translate(command, e);
            health.failed(failure.getMessage());
            return CompletableFuture.failedFuture(failure);
        }
    }

    /**
     * The log index of the entry a reply is for, or the translated failure. The state machine's
     * reply names its entry's index: the submitter waits for that entry, not for whatever index the
     * reply carries.
     */
    private long appliedAt(Command command, StoreClient lane, RaftClient client, RaftClientReply r, Throwable error) {
        Throwable failure = error != null ? error : r.isSuccess() ? null : r.getException();
        if (failure != null) {
            if (lane != null) {
                lane.failed(client, failure);
            }
            StoreException translated = translate(command, failure);
            if (StoreClient.isRefusal(failure)) {
                health.succeeded(); // the leader answered: the store works, this command was wrong
            } else {
                health.failed(translated.getMessage());
            }
            throw translated;
        }
        health.succeeded();
        String content = r.getMessage().getContent().toStringUtf8();
        int newline = content.indexOf('\n');
        return newline > 0 ? Long.parseLong(content.substring(0, newline)) : r.getLogIndex();
    }

    /** Submits and waits. */
    public Result submitAndWait(Command command) {
        try {
            return submit(command).join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof StoreException s ? s : new StoreException(e.getCause().getMessage(), true, e.getCause());
        }
    }

    private StoreException translate(Command command, Throwable error) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (cause instanceof StoreException s) {
            return s;
        }
        if (cause instanceof StateMachineException) {
            return new StoreException(describe(command) + " was refused by the leader: " + rootMessage(cause), false, cause);
        }
        if (cause instanceof TimeoutException) {
            return new StoreException(describe(command) + " got no answer within " + config.requestTimeout().toSeconds()
                + " s: the store may have no quorum (check 'nines cluster status'); it may or may not have been applied",
                true, cause);
        }
        return new StoreException(describe(command) + " failed: " + rootMessage(cause)
            + "; it may or may not have been applied", true, cause);
    }

    private static String rootMessage(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
    }

    private static String describe(Command command) {
        return "store command " + command.getClass().getSimpleName();
    }

    /** Reads this replica's state as applied so far (may lag the leader slightly). */
    public <T> T read(Function<ClusterState, T> reader) {
        return stateMachine.read(reader);
    }

    /** Reads after everything committed before this call has been applied here (linearizable). */
    public <T> T readLinearizable(Function<ClusterState, T> reader) {
        try {
            // a read waits for at most two queries (the one in flight when it came, then its own), each
            // ended by its time-out: the bound below only guards against a query that never ends
            long index = sharedReads.index().get(2 * config.requestTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
            stateMachine.awaitApplied(index).get(config.requestTimeout().toMillis(), TimeUnit.MILLISECONDS);
            health.succeeded();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StoreException("interrupted during a linearizable read", false, e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw readFailed(e.getCause());
        } catch (TimeoutException e) {
            throw readFailed(e);
        }
        return read(reader); // outside the try: what the reader throws (a 404, say) is the caller's, not a store failure
    }

    /**
     * Sends one query for the applied index (see {@link SharedReads}): to this replica's own server
     * while it leads, else (or when it could not answer as leader) through a client to the leader.
     */
    private CompletableFuture<Long> queryAppliedIndex() {
        CompletableFuture<RaftClientReply> reply;
        if (localLeader.leads()) {
            try {
                reply = localLeader.read(appliedIndexQuery)
                    // it no longer leads (or its lease lapsed): ask whoever leads
                    .thenCompose(r -> LocalLeader.readNotServed(r) ? queryThroughClient() : CompletableFuture.completedFuture(r));
            } catch (IOException | RuntimeException e) {
                reply = queryThroughClient();
            }
        } else {
            reply = queryThroughClient();
        }
        return reply.orTimeout(config.requestTimeout().toMillis(), TimeUnit.MILLISECONDS).thenApply(r -> {
            if (!r.isSuccess()) {
                throw new StoreException("linearizable read failed: " + rootMessage(r.getException()), false, r.getException());
            }
            return Long.parseLong(r.getMessage().getContent().toStringUtf8());
        });
    }

    private CompletableFuture<RaftClientReply> queryThroughClient() {
        throughClients.increment();
        StoreClient lane;
        RaftClient asked;
        try {
            lane = nextLane();
            asked = lane.current();
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        // unordered: a read need not wait for the answers to earlier requests on the same client. An
        // unordered read is not retried by the client: one that reached a replica that knows no leader
        // yet (it just restarted) is sent again the ordered way, which finds the leader and retries
        var reply = lane.track(asked, asked.async().sendReadOnlyUnordered(appliedIndexQuery)
            .thenCompose(r -> r.isSuccess() ? CompletableFuture.completedFuture(r) : asked.async().sendReadOnly(appliedIndexQuery))
            .exceptionallyCompose(e -> asked.async().sendReadOnly(appliedIndexQuery)));
        return reply.copy().orTimeout(config.requestTimeout().toMillis(), TimeUnit.MILLISECONDS).whenComplete((r, error) -> {
            if (error != null) {
                lane.failed(asked, error);
            } else if (!r.isSuccess()) {
                lane.failed(asked, r.getException());
            }
        });
    }

    private StoreException readFailed(Throwable error) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        StoreException failure;
        if (cause instanceof StoreException s) {
            failure = s;
        } else if (cause instanceof TimeoutException) {
            failure = new StoreException("linearizable read got no answer within " + config.requestTimeout().toSeconds()
                + " s: the store may have no quorum (check 'nines cluster status')", false, cause);
        } else {
            failure = new StoreException("linearizable read failed: " + rootMessage(cause) + "; check 'nines cluster status'",
                false, cause);
        }
        health.failed(failure.getMessage());
        return failure;
    }

    public CompletableFuture<Long> awaitApplied(long index) {
        return stateMachine.awaitApplied(index);
    }

    public long appliedIndex() {
        return stateMachine.appliedIndex();
    }

    /** The term this replica is in (Raft's current term). */
    public long currentTerm() {
        return division().getInfo().getCurrentTerm();
    }

    /**
     * The term of the last entry this replica applied; from a {@link StoreListener}, which runs on
     * the applier thread after the entry was applied, the term of the entry it is told of.
     */
    public long appliedTerm() {
        return stateMachine.appliedTerm();
    }

    /** The index of the last entry in this replica's log (committed or not), -1 if it holds none. */
    public long lastLogIndex() {
        var last = division().getRaftLog().getLastEntryTermIndex();
        return last == null ? -1 : last.getIndex();
    }

    public void addListener(StoreListener listener) {
        stateMachine.addListener(listener);
    }

    public void removeListener(StoreListener listener) {
        stateMachine.removeListener(listener);
    }

    /** Told the new leader's node name (null when unknown) on every change of leadership. */
    public void addLeaderListener(Consumer<String> listener) {
        stateMachine.addLeaderListener(listener);
    }

    public boolean isLeader() {
        return division().getInfo().isLeader();
    }

    public String groupId() {
        return groupId.getUuid().toString();
    }

    public String nodeName() {
        return config.nodeName();
    }

    /**
     * Signs this replica's messages with a new cluster secret from now on; as the leader it still
     * takes messages signed with the one before for {@code grace} (other nodes switch when they
     * apply the rotation, each a moment apart).
     */
    public void rotateSecret(byte[] secret, Duration grace) {
        authenticator.rotate(secret, grace);
        appliedIndexQuery = Message.valueOf(ByteString.copyFrom(
            authenticator.sign(StoreStateMachine.QUERY_APPLIED_INDEX.getBytes(StandardCharsets.UTF_8))));
    }

    /**
     * Makes the Raft configuration match: the given voters and non-voting listeners.
     * Ratis refuses to change a majority of voters at once, so voters are added, then
     * removed, one per step. Blocks until the leader has committed each step.
     */
    public void setMembers(Collection<RaftMember> voters, Collection<RaftMember> listeners) {
        var conf = division().getRaftConf();
        var current = new java.util.LinkedHashMap<String, RaftMember>();
        for (RaftPeer p : conf.getCurrentPeers(RaftProtos.RaftPeerRole.FOLLOWER)) {
            current.put(p.getId().toString(), new RaftMember(p.getId().toString(), p.getAddress()));
        }
        var listening = new java.util.HashSet<String>();
        for (RaftPeer p : conf.getCurrentPeers(RaftProtos.RaftPeerRole.LISTENER)) {
            listening.add(p.getId().toString());
        }
        var target = new java.util.LinkedHashMap<String, RaftMember>();
        voters.forEach(m -> target.put(m.name(), m));
        for (RaftMember added : voters) {
            if (!added.equals(current.get(added.name()))) {
                if (listening.remove(added.name())) {
                    // a listener becomes a voter in two steps: Ratis' leader keeps the listener's log sender and,
                    // given the same peer as a voter in one change, fails adding a second sender for it
                    // ("Found duplicated element")
                    var others = listeners.stream().filter(m -> listening.contains(m.name())).toList();
                    applyConfiguration(current.values(), others, target);
                }
                current.put(added.name(), added);
                applyConfiguration(current.values(), listeners, target);
            }
        }
        for (String name : List.copyOf(current.keySet())) {
            if (!target.containsKey(name)) {
                current.remove(name);
                applyConfiguration(current.values(), listeners, target);
            }
        }
        applyConfiguration(current.values(), listeners, target);
    }

    private void applyConfiguration(Collection<RaftMember> voters, Collection<RaftMember> listeners,
                                    java.util.Map<String, RaftMember> targetVoters) {
        var servers = voters.stream().map(m -> peer(m.name(), m.raftAddress(), RaftProtos.RaftPeerRole.FOLLOWER)).toList();
        var voterNames = voters.stream().map(RaftMember::name).collect(Collectors.toSet());
        var listenerPeers = listeners.stream().filter(m -> !voterNames.contains(m.name()))
            .map(m -> peer(m.name(), m.raftAddress(), RaftProtos.RaftPeerRole.LISTENER)).toList();
        StoreClient lane = lanes.getFirst();
        RaftClient client = lane.current();
        try {
            RaftClientReply reply = client.admin().setConfiguration(SetConfigurationRequest.Arguments.newBuilder()
                .setServersInNewConf(servers)
                .setListenersInNewConf(listenerPeers)
                .build());
            if (!reply.isSuccess()) {
                lane.failed(client, reply.getException());
                throw new StoreException("changing the Raft members to " + targetVoters.keySet() + " failed: "
                    + rootMessage(reply.getException()), true, reply.getException());
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof StoreException s) {
                throw s;
            }
            lane.failed(client, e);
            throw new StoreException("changing the Raft members to " + targetVoters.keySet() + " failed: "
                + rootMessage(e), true, e);
        }
    }

    public StoreStatus status() {
        var division = division();
        var info = division.getInfo();
        var conf = division.getRaftConf();
        var roleInfo = info.getRoleInfoProto();
        var peers = new ArrayList<StoreStatus.PeerProgress>();
        if (roleInfo.hasLeaderInfo()) {
            long[] match = info.getFollowerMatchIndices();
            var followers = roleInfo.getLeaderInfo().getFollowerInfoList();
            for (int i = 0; i < followers.size(); i++) {
                var follower = followers.get(i);
                peers.add(new StoreStatus.PeerProgress(follower.getId().getId().toStringUtf8(),
                    i < match.length ? match[i] : -1, follower.getLastRpcElapsedTimeMs()));
            }
        }
        RaftPeerId leader = info.getLeaderId();
        long leaderContact = roleInfo.hasFollowerInfo() && roleInfo.getFollowerInfo().hasLeaderInfo()
            ? roleInfo.getFollowerInfo().getLeaderInfo().getLastRpcElapsedTimeMs() : -1;
        return new StoreStatus(config.nodeName(), leader == null ? null : leader.toString(), info.getCurrentTerm(),
            appliedIndex(), division.getRaftLog().getLastCommittedIndex(), info.getCurrentRole().name(),
            names(conf.getCurrentPeers(RaftProtos.RaftPeerRole.FOLLOWER)),
            names(conf.getCurrentPeers(RaftProtos.RaftPeerRole.LISTENER)),
            peers, leaderContact);
    }

    /** Whether this replica can commit now, from its view of the group and its own recent requests. */
    public StoreHealth.Verdict health() {
        return health.assess(status());
    }

    /** Whether the last command or read on this replica failed and none succeeded since. */
    public boolean failing() {
        return health.failing();
    }

    /** How many commands and reads this replica sent through a Ratis client rather than to its own server as leader. */
    long requestsThroughClients() {
        return throughClients.sum();
    }

    /** How many Ratis clients this replica built so far (a failed request makes the next one use a new client). */
    /** Entries of config changes and lock commands sent from this replica, and how many commands they held. */
    public long[] batchCounts() {
        return batcher.counts();
    }

    public long clientsBuilt() {
        return lanes.stream().mapToLong(StoreClient::clientsBuilt).sum();
    }

    private static List<String> names(Collection<RaftPeer> peers) {
        return peers.stream().map(p -> p.getId().toString()).sorted().collect(Collectors.toList());
    }

    @Override
    public void close() {
        var deadline = java.time.Instant.now().plus(StoreClient.CLOSE_GRACE);
        lanes.forEach(lane -> lane.closeBy(deadline));
        readSender.shutdown(); // a read still waiting fails: its query cannot be sent (or times out on a closed lane)
        stateMachine.stopping();
        try {
            server.close();
        } catch (IOException e) {
            throw new StoreException("closing the store replica failed: " + e.getMessage(), false, e);
        }
    }

    /** The snapshots this replica wrote since it started, oldest first (the last 64). */
    public List<SnapshotWritten> snapshotsWritten() {
        return stateMachine.snapshotsWritten();
    }

    /** The snapshot this replica loaded at start and the log entries it applied since. */
    public StartReplay startReplay() {
        return stateMachine.replay();
    }

    /** A peer of the Raft group. */
    public record RaftMember(String name, String raftAddress) {
    }

    /** For tests in this package. */
    StoreStateMachine stateMachine() {
        return stateMachine;
    }
}
