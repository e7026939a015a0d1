package fivenines.agent.vm;

import fivenines.agent.api.ApiException;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.vm.DesiredState;
import fivenines.model.vm.VmRecord;

import java.util.Optional;

/**
 * Whether a live migration may be tried at all, decided before anything is started or attached
 * anywhere: a migration to the node the VM runs on would make the source its own destination,
 * and undoing such an attempt would take the running guest's disks away.
 */
final class MigrationRefusal {
    private MigrationRefusal() {
    }

    /**
     * The refusal of migrating {@code vm} to {@code destination}, or empty when it may be tried.
     *
     * @param destinationNode the destination as the store knows it (empty when there is no such node)
     */
    static Optional<ApiException> of(VmRecord vm, String destination, Optional<Node> destinationNode) {
        String name = vm.name();
        if (destination == null || destination.isBlank()) {
            return Optional.of(ApiException.badRequest("name the node to migrate VM '" + name + "' to"));
        }
        if (vm.node() == null || vm.desired() == DesiredState.STOPPED) {
            return Optional.of(ApiException.conflict("VM '" + name + "' is not running; start it on " + destination
                + " instead ('nines vm start " + name + " --node " + destination + "')"));
        }
        if (destination.equals(vm.node())) {
            return Optional.of(ApiException.conflict("VM '" + name + "' runs on " + destination
                + " already; name another node to migrate it to ('nines cluster status' lists them)"));
        }
        if (vm.migratingTo() != null) {
            return Optional.of(ApiException.conflict("VM '" + name + "' is migrating to " + vm.migratingTo()
                + " already; wait for it to finish ('nines vm show " + name + "')"));
        }
        if (destinationNode.isEmpty()) {
            return Optional.of(ApiException.notFound("no node '" + destination + "'; 'nines cluster status' lists them"));
        }
        Node node = destinationNode.get();
        if (node.witness()) {
            return Optional.of(ApiException.conflict("node '" + destination + "' is a witness and runs no VMs; name another node"));
        }
        if (node.state() == NodeState.DOWN) {
            return Optional.of(ApiException.conflict("node '" + destination + "' is down; name a node that is up"));
        }
        return Optional.empty();
    }
}
