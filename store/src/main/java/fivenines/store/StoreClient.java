package fivenines.store;

import org.apache.ratis.client.RaftClient;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.grpc.GrpcFactory;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.protocol.exceptions.StateMachineException;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.util.TimeDuration;

import java.time.Duration;
import java.time.InstantSource;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The Ratis client through which a replica submits commands and linearizable reads, kept
 * pointed at the group's current peers and leader as this replica's own server sees them.
 *
 * <p>A client is replaced when the group's peers change, when this server knows of a leader
 * other than the one the client aims at, and after a request on it failed other than by a
 * refusal. The last matters most: gRPC backs off reconnecting to a peer it could not reach
 * (up to two minutes), and a Ratis client keeps sending to that channel, so a client that
 * saw a peer down kept failing with "Connection refused" long after the peer came back.
 * A fresh client has fresh channels. A replaced client is closed only once the requests in
 * flight on it ended and their time passed ({@link RetiredClients}): closing it at once fails
 * them ("proxy is null"), and closing it under a retry Ratis still makes logs an error.
 */
final class StoreClient implements AutoCloseable {
    /** How long a closing replica lets the requests in flight on its clients end. */
    static final Duration CLOSE_GRACE = Duration.ofSeconds(2);
    private final RaftGroupId groupId;
    private final RaftProperties properties;
    private final Supplier<Parameters> parameters;
    private final Supplier<RaftServer.Division> division;
    private final RetiredClients<RaftClient> retired;
    private RaftClient client;
    private Set<RaftPeer> clientPeers = Set.of();
    private Set<RaftPeerId> clientPeerIds = Set.of();
    /** The Raft configuration object {@link #clientPeers} was read from. */
    private Object clientConf;
    private boolean failed;
    private boolean closed;
    private long built;

    StoreClient(RaftGroupId groupId, RaftProperties properties, Supplier<Parameters> parameters,
                Supplier<RaftServer.Division> division, Duration requestTimeout, InstantSource clock) {
        this.groupId = groupId;
        this.properties = properties;
        this.parameters = parameters;
        this.division = division;
        // the retry policy below keeps a request alive for up to 150 attempts: the hard limit outlasts that
        this.retired = new RetiredClients<>(requestTimeout.multipliedBy(2), requestTimeout.multipliedBy(2).plus(Duration.ofMinutes(10)),
            clock, StoreClient::closeQuietly);
    }

    /** The client to send the next request with. */
    RaftClient current() {
        // outside this object's monitor: closing a client fails the requests still on it, and their
        // callbacks report to failed(), which takes the monitor (held here, the close never returned)
        retired.closeDue(false);
        synchronized (this) {
            return currentLocked();
        }
    }

    private RaftClient currentLocked() {
        if (closed) {
            throw new StoreException("the store replica is closed", false, null);
        }
        var info = division.get();
        RaftPeerId known = info.getInfo().getLeaderId();
        // the configuration is a new object whenever the peers change: while it is the one the client
        // was built for, the peers need not be listed and compared again on every request
        var conf = info.getRaftConf();
        if (client != null && !failed && conf == clientConf
            && (known == null || !clientPeerIds.contains(known) || known.equals(client.getLeaderId()))) {
            return client;
        }
        var peers = Set.copyOf(info.getGroup().getPeers());
        RaftPeerId leader = known != null && peers.stream().anyMatch(p -> p.getId().equals(known)) ? known : null;
        if (client != null && !failed && peers.equals(clientPeers)
            && (leader == null || leader.equals(client.getLeaderId()))) {
            clientConf = conf;
            return client;
        }
        if (peers.isEmpty()) {
            throw new StoreException("this replica is not part of a configured group yet (waiting to be added)", false, null);
        }
        retired.retire(client);
        var builder = RaftClient.newBuilder()
            .setProperties(properties)
            .setRaftGroup(RaftGroup.valueOf(groupId, peers))
            .setClientId(ClientId.randomId())
            .setClientRpc(new GrpcFactory(parameters.get()).newRaftClientRpc(ClientId.randomId(), properties))
            .setRetryPolicy(RetryPolicies.retryUpToMaximumCountWithFixedSleep(150,
                TimeDuration.valueOf(100, TimeUnit.MILLISECONDS)));
        if (leader != null) {
            builder.setLeaderId(leader);
        }
        client = builder.build();
        clientPeers = peers;
        clientPeerIds = peers.stream().map(RaftPeer::getId).collect(java.util.stream.Collectors.toUnmodifiableSet());
        clientConf = conf;
        failed = false;
        built++;
        return client;
    }

    /** Counts {@code request} as in flight on {@code used} until it ends, so a retired client is not closed under it. */
    <F extends java.util.concurrent.CompletableFuture<?>> F track(RaftClient used, F request) {
        return retired.track(used, request);
    }

    /** Told of a request that failed on {@code used}: unless the leader refused it, the next request gets a new client. */
    synchronized void failed(RaftClient used, Throwable error) {
        if (used == client && !isRefusal(error)) {
            failed = true;
        }
    }

    /** How many clients were built so far (tests check that a client was replaced). */
    synchronized long clientsBuilt() {
        return built;
    }

    static boolean isRefusal(Throwable error) {
        Throwable cause = error;
        while ((cause instanceof CompletionException || cause instanceof ExecutionException) && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause instanceof StateMachineException;
    }

    @Override
    public void close() {
        closeBy(java.time.Instant.now().plus(CLOSE_GRACE));
    }

    /**
     * Takes no new requests, lets those in flight end until {@code deadline} (one that Ratis still
     * retries when its client closes makes Ratis log an error), then closes every client.
     */
    void closeBy(java.time.Instant deadline) {
        synchronized (this) {
            closed = true;
            retired.retire(client);
            client = null;
        }
        retired.awaitIdle(deadline);
        retired.closeDue(true); // outside the monitor, as in current()
    }

    static void closeQuietly(AutoCloseable closeable) {
        if (closeable == null) {
            return;
        }
        try {
            closeable.close();
        } catch (Exception ignored) {
            // closing a client that lost its connections cannot be acted on
        }
    }
}
