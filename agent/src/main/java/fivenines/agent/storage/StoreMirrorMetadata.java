package fivenines.agent.storage;

import fivenines.agent.cluster.ClusterService;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.block.volume.MirrorMetadata;
import fivenines.block.volume.VolumeMetadata;
import fivenines.model.command.DropLeg;
import fivenines.model.command.MarkRegions;
import fivenines.model.command.RepairedRegions;
import fivenines.model.command.ResyncLeg;
import fivenines.model.command.StartResync;
import fivenines.model.state.Rejection;
import fivenines.model.storage.ChunkSpan;
import fivenines.model.storage.MirrorStatus;
import fivenines.model.storage.VolumeView;
import fivenines.store.StoreException;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** A volume's legs as the cluster store holds them, for its engine on this node. */
final class StoreMirrorMetadata implements MirrorMetadata {
    private final ClusterService cluster;
    private final String node;
    private final String path;
    private final String vg;
    private final String lv;
    private final Set<String> justAttached;

    StoreMirrorMetadata(ClusterService cluster, String node, String path, Set<String> justAttached) {
        this.cluster = cluster;
        this.node = node;
        this.path = path;
        int slash = path.indexOf('/');
        this.vg = path.substring(0, slash);
        this.lv = path.substring(slash + 1);
        this.justAttached = justAttached;
    }

    @Override
    public String node() {
        return node;
    }

    @Override
    public VolumeMetadata leg(int leg) {
        return new StoreLegMetadata(cluster, node, path, leg, justAttached);
    }

    @Override
    public VolumeView view(int leg) throws IOException {
        return leg(leg).view();
    }

    @Override
    public MirrorStatus status() throws IOException {
        try {
            return cluster.store().readLinearizable(state -> state.volumes().mirrorStatus(
                state.volumes().volume(path).orElseThrow(() -> Rejection.notFound("no logical volume '" + path + "'"))));
        } catch (Rejection gone) {
            throw new NbdErrorException(NbdProtocol.ESHUTDOWN, gone.getMessage());
        } catch (StoreException e) {
            throw new NbdErrorException(NbdProtocol.EIO, path + ": the store cannot be read: " + e.getMessage());
        }
    }

    @Override
    public void dropLeg(long epoch, int leg, String reason, List<ChunkSpan> missed) throws IOException {
        StoreLegMetadata.submit(cluster, path, new DropLeg(vg, lv, node, epoch, leg, reason, System.currentTimeMillis(), missed));
    }

    @Override
    public void markRegions(long epoch, List<ChunkSpan> activate, List<ChunkSpan> retire, Map<Integer, List<ChunkSpan>> missed)
        throws IOException {
        StoreLegMetadata.submit(cluster, path, new MarkRegions(vg, lv, node, epoch, activate, retire, missed));
    }

    @Override
    public void startResync(long epoch, int leg) throws IOException {
        StoreLegMetadata.submit(cluster, path, new StartResync(vg, lv, node, epoch, leg, System.currentTimeMillis()));
    }

    @Override
    public void resynced(long epoch, int leg, List<ChunkSpan> done, boolean complete) throws IOException {
        StoreLegMetadata.submit(cluster, path, new ResyncLeg(vg, lv, node, epoch, leg, done, complete, System.currentTimeMillis()));
    }

    @Override
    public void repaired(long epoch, List<ChunkSpan> done) throws IOException {
        StoreLegMetadata.submit(cluster, path, new RepairedRegions(vg, lv, node, epoch, done));
    }
}
