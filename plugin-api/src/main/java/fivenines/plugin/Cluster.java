package fivenines.plugin;

import fivenines.model.command.Command;
import fivenines.model.state.ClusterState;
import fivenines.model.state.Result;

import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/** A plugin's view of the cluster store. */
public interface Cluster {

    /** Submits a command; completes when it is committed and applied on this node. */
    CompletableFuture<Result> submit(Command command);

    /** Reads this node's applied state (it may trail the leader by a few milliseconds). */
    <T> T read(Function<ClusterState, T> reader);

    /** Reads after every change committed before the call has been applied here. */
    <T> T readLinearizable(Function<ClusterState, T> reader);

    /** Whether this node's store replica currently leads the cluster. */
    boolean isLeader();

    /**
     * Calls the listener for each command applied from now on, in log order, on the store's
     * applier thread: it must not block. Returns a handle that stops the calls.
     */
    AutoCloseable onApplied(AppliedListener listener);

    /** Told of one applied command. */
    @FunctionalInterface
    interface AppliedListener {
        void applied(long index, Command command, Result result, ClusterState state);
    }
}
