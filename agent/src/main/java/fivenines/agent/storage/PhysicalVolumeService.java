package fivenines.agent.storage;

import fivenines.agent.AgentConfig;
import fivenines.agent.api.ApiException;
import fivenines.agent.cluster.ClusterService;
import fivenines.block.pv.PhysicalVolumeDevice;
import fivenines.block.pv.PhysicalVolumeLabel;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.RemovePhysicalVolume;
import fivenines.model.state.Result;
import fivenines.model.state.StateMachine;
import fivenines.model.storage.PhysicalVolume;
import fivenines.store.ClusterStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.UUID;

/**
 * This node's side of physical volumes: labels a local file or device, registers it in the
 * store, and wipes the label when the store says the volume was removed.
 */
public final class PhysicalVolumeService {
    private static final Logger LOG = LoggerFactory.getLogger(PhysicalVolumeService.class);
    private final AgentConfig config;
    private final ClusterService cluster;

    public PhysicalVolumeService(AgentConfig config, ClusterService cluster) {
        this.config = config;
        this.cluster = cluster;
        cluster.onStoreStarted(this::watch);
    }

    private void watch(ClusterStore store) {
        store.addListener((index, command, result, state) -> {
            if (command instanceof RemovePhysicalVolume && result instanceof Result.Applied applied
                && applied.value() instanceof PhysicalVolume pv && pv.node().equals(config.nodeName())) {
                Thread.ofVirtual().name("pv-wipe-" + pv.id()).start(() -> wipe(pv));
            }
            // a node that leaves takes its ungrouped disks with it: their labels go too
            if (result instanceof Result.Applied applied && applied.value() instanceof StateMachine.NodeRemoved removed
                && removed.name().equals(config.nodeName())) {
                for (PhysicalVolume pv : removed.forgottenDisks()) {
                    Thread.ofVirtual().name("pv-wipe-" + pv.id()).start(() -> wipe(pv));
                }
            }
        });
    }

    private static void wipe(PhysicalVolume pv) {
        try {
            var label = PhysicalVolumeLabel.read(Path.of(pv.path()));
            if (label.isPresent() && label.get().id().toString().equals(pv.id())) {
                PhysicalVolumeLabel.wipe(Path.of(pv.path()));
                LOG.info("physical volume {} removed: label wiped on {}", pv.id(), pv.path());
            }
        } catch (IOException e) {
            LOG.warn("physical volume {} was removed, but its label on {} could not be wiped: {}", pv.id(), pv.path(),
                e.getMessage());
        }
    }

    /** Labels {@code path} on this node (creating a sparse file of {@code size} if given) and registers it. */
    public PhysicalVolume create(Path path, Long size, long extentSize) {
        return create(path, size, extentSize, false);
    }

    /**
     * As {@link #create(Path, Long, long)}; with {@code force}, a label this cluster does not know
     * (left by a node that left or was removed, or by another cluster) is overwritten. A label of
     * a physical volume the cluster knows is never overwritten.
     */
    public PhysicalVolume create(Path path, Long size, long extentSize, boolean force) {
        ClusterStore store = cluster.store();
        UUID replaceable = size == null ? unknownLabel(store, path, force) : null;
        PhysicalVolumeDevice.Prepared prepared;
        try {
            prepared = PhysicalVolumeDevice.prepare(path, size, extentSize, replaceable);
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(e.getMessage());
        } catch (IOException e) {
            throw ApiException.badRequest("cannot prepare " + path + ": " + e.getMessage());
        }
        var label = prepared.label();
        Result result;
        try {
            result = store.submitAndWait(new CreatePhysicalVolume(label.id().toString(), config.nodeName(),
                path.toString(), label.dataSize(), label.extentSize(), config.nbdAddress(), config.nbdSocket().toString()));
        } catch (RuntimeException e) {
            undo(prepared);
            throw e;
        }
        if (result instanceof Result.Rejected) {
            undo(prepared);
        }
        return (PhysicalVolume) ApiException.valueOf(result);
    }

    /** The id of a label on {@code path} that may be overwritten, or null when there is none; refuses every other label. */
    private static UUID unknownLabel(ClusterStore store, Path path, boolean force) {
        Optional<PhysicalVolumeLabel> label;
        try {
            label = path.isAbsolute() && Files.exists(path) && !Files.isDirectory(path) ? PhysicalVolumeLabel.read(path) : Optional.empty();
        } catch (IOException | RuntimeException e) {
            return null; // prepare() reports what is wrong with the path
        }
        if (label.isEmpty()) {
            return null;
        }
        String id = label.get().id().toString();
        Optional<PhysicalVolume> known = store.readLinearizable(s -> s.storage().physicalVolume(id));
        if (known.isPresent()) {
            PhysicalVolume pv = known.get();
            if (pv.path().equals(path.toString())) {
                throw ApiException.conflict(path + " is already physical volume " + pv.displayName() + " (" + id
                    + ") of this cluster; 'nines pv list' shows it, and 'nines pv remove " + pv.displayName()
                    + "' frees it once no volume group holds it");
            }
            // the same disk under another name, or a copy: overwriting could destroy a disk in use
            throw ApiException.conflict(path + " carries the label of physical volume " + pv.displayName() + " (" + id
                + ") of this cluster: the same disk under another path, or a copy of it; it is never overwritten"
                + " (if it is a copy that is not needed, wipe its first 4 KiB, then create the PV again)");
        }
        if (!force) {
            throw ApiException.conflict(path + " carries the label of physical volume " + id + ", which this cluster does not"
                + " know (left by a node that left or was removed, or by another cluster); if its data is no longer needed,"
                + " 'nines pv create --force " + path + "' labels it anew");
        }
        return label.get().id();
    }

    private static void undo(PhysicalVolumeDevice.Prepared prepared) {
        try {
            PhysicalVolumeDevice.undo(prepared);
        } catch (IOException e) {
            LOG.warn("could not undo the label on {}: {}", prepared.path(), e.getMessage());
        }
    }

    /** What became of a removed physical volume's label. */
    public record Removal(PhysicalVolume physicalVolume, String label) {
    }

    /**
     * Forgets a physical volume. Its node wipes the label when it applies the removal; a node
     * that is no longer a member never will, and the answer says so instead of claiming it.
     */
    public Removal remove(String reference) {
        ClusterStore store = cluster.store();
        PhysicalVolume pv = store.read(s -> s.storage().requirePhysicalVolume(reference));
        var removed = (PhysicalVolume) ApiException.valueOf(store.submitAndWait(new RemovePhysicalVolume(pv.id())));
        Optional<Node> node = store.read(s -> s.membership().node(removed.node()));
        String label;
        if (node.isEmpty()) {
            label = "the label stays on " + removed.displayName() + ": node '" + removed.node() + "' is no longer a member;"
                + " on that machine, 'nines pv create --force " + removed.path() + "' labels it anew";
        } else if (node.get().state() == NodeState.DOWN) {
            label = "node '" + removed.node() + "' is down; it wipes the label on " + removed.path() + " when it is back";
        } else {
            label = "node '" + removed.node() + "' wipes the label on " + removed.path();
        }
        return new Removal(removed, label);
    }
}
