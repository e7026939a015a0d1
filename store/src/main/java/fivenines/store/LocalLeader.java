package fivenines.store;

import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * Hands a request straight to this replica's own Raft server when it leads, instead of through
 * a Ratis client: no gRPC call to itself over loopback, no ordered client stream (whose replies
 * come back one after the other), no serialising of the request and its reply.
 *
 * <p>A reply that the server was not ready to lead ({@link #notReady}) means nothing was
 * appended: the caller sends the request again through a client to whoever leads. A
 * {@link org.apache.ratis.protocol.exceptions.NotLeaderException} does not say that: Ratis also
 * answers it to requests that were appended before the leader stepped down, which the next
 * leader may still commit. A Ratis client resends those under the same call id and the new
 * leader's retry cache recognises them; a request sent here has no such second chance, so the
 * caller reports it as one that may or may not have been applied.
 */
final class LocalLeader {
    private final RaftServer server;
    private final RaftGroupId groupId;
    private final RaftPeerId self;
    private final Supplier<RaftServer.Division> division;
    // one client id for every request sent this way; the call id tells them apart in the retry cache
    private final ClientId clientId = ClientId.randomId();
    private final AtomicLong callId = new AtomicLong();

    LocalLeader(RaftServer server, RaftGroupId groupId, RaftPeerId self, Supplier<RaftServer.Division> division) {
        this.server = server;
        this.groupId = groupId;
        this.self = self;
        this.division = division;
    }

    /** Whether this replica leads and has committed an entry of its term (so it can take requests). */
    boolean leads() {
        try {
            return division.get().getInfo().isLeaderReady();
        } catch (StoreException e) {
            return false;
        }
    }

    /** Sends a command to be appended, replicated and applied. */
    CompletableFuture<RaftClientReply> write(Message message) throws IOException {
        return server.submitClientRequestAsync(request(message, RaftClientRequest.writeRequestType()));
    }

    /** Sends a linearizable read (answered at once while the leader's lease holds). */
    CompletableFuture<RaftClientReply> read(Message message) throws IOException {
        return server.submitClientRequestAsync(request(message, RaftClientRequest.readRequestType()));
    }

    /** Whether a write's reply says the leader was not ready to take requests (or was stepping down): nothing was appended. */
    static boolean notReady(RaftClientReply reply) {
        return reply.getLeaderNotReadyException() != null || reply.getLeaderSteppingDownException() != null;
    }

    /** Whether a read's reply says this replica could not answer it as leader (a read changes nothing: ask the leader). */
    static boolean readNotServed(RaftClientReply reply) {
        return !reply.isSuccess() && reply.getStateMachineException() == null;
    }

    private RaftClientRequest request(Message message, RaftClientRequest.Type type) {
        return RaftClientRequest.newBuilder()
            .setClientId(clientId)
            .setServerId(self)
            .setGroupId(groupId)
            .setCallId(callId.incrementAndGet())
            .setMessage(message)
            .setType(type)
            .build();
    }
}
