package fivenines.store;

import fivenines.model.command.Command;
import fivenines.model.state.ClusterState;
import fivenines.model.state.Result;

/**
 * Told of every command this replica applies, in log order, on the applier thread.
 * Implementations must be quick and must not block: hand work to another thread.
 */
@FunctionalInterface
public interface StoreListener {
    void applied(long index, Command command, Result result, ClusterState state);
}
