package fivenines.agent.storage;

import fivenines.agent.AgentConfig;
import fivenines.agent.api.ApiException;
import fivenines.agent.cluster.ClusterService;
import fivenines.block.aoe.AoeDevice;
import fivenines.block.aoe.AoeInitiator;
import fivenines.block.aoe.AoePath;
import fivenines.block.aoe.RawSocket;
import fivenines.block.export.ExportRegistry;
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
import java.time.Duration;
import java.util.Optional;
import java.util.UUID;

/**
 * This node's side of physical volumes: labels a local file or device, or a remote AoE device
 * this node reaches, registers it in the store, and wipes the label when the store says the
 * volume was removed.
 */
public final class PhysicalVolumeService {
    private static final Logger LOG = LoggerFactory.getLogger(PhysicalVolumeService.class);
    /** How long an AoE target has to answer the Query Config broadcast of {@code pv create}. */
    public static final Duration AOE_DISCOVERY = Duration.ofSeconds(3);
    /** How long {@code pv create} waits for the block service to serve a new AoE PV. */
    private static final Duration AOE_SERVED = Duration.ofSeconds(15);
    private final AgentConfig config;
    private final ClusterService cluster;
    private final ExportRegistry exports;

    public PhysicalVolumeService(AgentConfig config, ClusterService cluster, ExportRegistry exports) {
        this.config = config;
        this.cluster = cluster;
        this.exports = exports;
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
        if (AoePath.isAoe(pv.path())) {
            wipeAoe(pv);
            return;
        }
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

    private static void wipeAoe(PhysicalVolume pv) {
        var path = AoePath.parse(pv.path());
        try (var device = AoeDevice.whole(pv.path(), AoeInitiator.connect(path.interfaceName(), path.shelf(), path.slot(),
            AOE_DISCOVERY))) {
            var label = PhysicalVolumeLabel.read(device);
            if (label.isPresent() && label.get().id().toString().equals(pv.id())) {
                PhysicalVolumeLabel.wipe(device);
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
        return replaceable(store, path.toString(), label, force);
    }

    /** The id of {@code label} (found on {@code path}) when it may be overwritten, null when there is none; refuses every other. */
    private static UUID replaceable(ClusterStore store, String path, Optional<PhysicalVolumeLabel> label, boolean force) {
        if (label.isEmpty()) {
            return null;
        }
        String id = label.get().id().toString();
        Optional<PhysicalVolume> known = store.readLinearizable(s -> s.storage().physicalVolume(id));
        if (known.isPresent()) {
            PhysicalVolume pv = known.get();
            if (pv.path().equals(path)) {
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

    /**
     * Makes the remote AoE device {@code target} ({@code aoe:eSHELF.SLOT}, or with {@code @IF}),
     * reached through {@code interfaceName} of this node, a physical volume of this node. Checks
     * before anything is written: the interface exists, the target answers discovery within
     * {@link #AOE_DISCOVERY}, its label (as for a disk) and size; then labels it, registers it and
     * waits until the block service serves it. A refused registration wipes the label again.
     */
    public PhysicalVolume createAoe(String target, String interfaceName, long extentSize, boolean force) {
        AoePath path;
        try {
            path = AoePath.parse(target, interfaceName);
            RawSocket.interfaceInfo(path.interfaceName());
        } catch (IllegalArgumentException | IOException e) {
            throw ApiException.badRequest(e.getMessage() + "; nothing was created");
        }
        ClusterStore store = cluster.store();
        String name = path.toString();
        store.readLinearizable(s -> s.storage().physicalVolumes().stream()
            .filter(pv -> pv.node().equals(config.nodeName()) && pv.path().equals(name)).findFirst()).ifPresent(pv -> {
                throw ApiException.conflict(pv.displayName() + " is already physical volume " + pv.id()
                    + "; 'nines pv list' shows it");
            });
        AoeInitiator initiator;
        try {
            initiator = AoeInitiator.connect(path.interfaceName(), path.shelf(), path.slot(), AOE_DISCOVERY);
        } catch (IOException e) {
            throw ApiException.badRequest(e.getMessage() + "; nothing was created");
        }
        PhysicalVolume created;
        try (var device = AoeDevice.whole(name, initiator)) {
            PhysicalVolumeLabel label;
            try {
                UUID replaceable = replaceable(store, name, PhysicalVolumeLabel.read(device), force);
                label = PhysicalVolumeDevice.prepare(device, name, extentSize, replaceable);
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest(e.getMessage() + "; nothing was created");
            } catch (IOException e) {
                throw ApiException.badRequest("cannot label " + name + ": " + e.getMessage() + "; nothing was created");
            }
            Result result;
            try {
                result = store.submitAndWait(new CreatePhysicalVolume(label.id().toString(), config.nodeName(), name,
                    label.dataSize(), label.extentSize(), config.nbdAddress(), config.nbdSocket().toString()));
            } catch (RuntimeException e) {
                wipeAfterRefusal(device, name);
                throw e;
            }
            if (result instanceof Result.Rejected) {
                wipeAfterRefusal(device, name);
            }
            created = (PhysicalVolume) ApiException.valueOf(result);
        }
        awaitServed(created);
        return created;
    }

    private static void wipeAfterRefusal(AoeDevice device, String name) {
        try {
            PhysicalVolumeLabel.wipe(device);
        } catch (IOException e) {
            LOG.warn("could not undo the label on {}: {}", name, e.getMessage());
        }
    }

    /** Waits (a while) until the block service, which opens an AoE PV on its own, serves it. */
    private void awaitServed(PhysicalVolume pv) {
        long deadline = System.nanoTime() + AOE_SERVED.toNanos();
        while (exports.find(pv.exportName()).isEmpty() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        if (exports.find(pv.exportName()).isEmpty()) {
            LOG.warn("physical volume {} was created but is not served yet; 'nines mcp plugin list' says why (block)",
                pv.displayName());
        }
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
