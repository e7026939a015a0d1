package fivenines.agent.cluster;

import fivenines.model.command.Command;
import fivenines.model.state.ClusterState;
import fivenines.model.state.Result;
import fivenines.plugin.Cluster;
import fivenines.store.ClusterStore;
import fivenines.store.StoreException;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

/** The plugins' view of the store; follows the replica across init, join, leave and restarts. */
public final class StoreCluster implements Cluster {
    private final ClusterService service;
    private final List<AppliedListener> listeners = new CopyOnWriteArrayList<>();

    public StoreCluster(ClusterService service) {
        this.service = service;
        service.onStoreStarted(this::attach);
    }

    private void attach(ClusterStore store) {
        store.addListener((index, command, result, state) -> {
            for (AppliedListener listener : listeners) {
                listener.applied(index, command, result, state);
            }
        });
    }

    @Override
    public CompletableFuture<Result> submit(Command command) {
        try {
            return service.store().submit(command);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public <T> T read(Function<ClusterState, T> reader) {
        return service.store().read(reader);
    }

    @Override
    public <T> T readLinearizable(Function<ClusterState, T> reader) {
        return service.store().readLinearizable(reader);
    }

    @Override
    public boolean isLeader() {
        try {
            return service.inCluster() && service.store().isLeader();
        } catch (StoreException e) {
            return false;
        }
    }

    @Override
    public AutoCloseable onApplied(AppliedListener listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }
}
