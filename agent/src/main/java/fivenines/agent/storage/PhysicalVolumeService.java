package fivenines.agent.storage;

import fivenines.agent.AgentConfig;
import fivenines.agent.api.ApiException;
import fivenines.agent.cluster.ClusterService;
import fivenines.block.pv.PhysicalVolumeDevice;
import fivenines.block.pv.PhysicalVolumeLabel;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.RemovePhysicalVolume;
import fivenines.model.state.Result;
import fivenines.model.storage.PhysicalVolume;
import fivenines.store.ClusterStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;

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
        ClusterStore store = cluster.store();
        PhysicalVolumeDevice.Prepared prepared;
        try {
            prepared = PhysicalVolumeDevice.prepare(path, size, extentSize);
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

    private static void undo(PhysicalVolumeDevice.Prepared prepared) {
        try {
            PhysicalVolumeDevice.undo(prepared);
        } catch (IOException e) {
            LOG.warn("could not undo the label on {}: {}", prepared.path(), e.getMessage());
        }
    }

    public PhysicalVolume remove(String reference) {
        ClusterStore store = cluster.store();
        PhysicalVolume pv = store.read(s -> s.storage().requirePhysicalVolume(reference));
        return (PhysicalVolume) ApiException.valueOf(store.submitAndWait(new RemovePhysicalVolume(pv.id())));
    }
}
