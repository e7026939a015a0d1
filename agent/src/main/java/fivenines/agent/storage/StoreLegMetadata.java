package fivenines.agent.storage;

import fivenines.agent.cluster.ClusterService;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.block.volume.VolumeMetadata;
import fivenines.model.command.Command;
import fivenines.model.command.CommitChunks;
import fivenines.model.command.ReserveChunks;
import fivenines.model.state.Rejection;
import fivenines.model.state.Result;
import fivenines.model.storage.ChunkMapping;
import fivenines.model.storage.ChunkRef;
import fivenines.model.storage.VolumeView;
import fivenines.store.StoreException;

import java.io.IOException;
import java.util.List;
import java.util.Set;

/** One leg of a volume as the cluster store holds it, for that leg's engine on this node. */
final class StoreLegMetadata implements VolumeMetadata {
    private final ClusterService cluster;
    private final String node;
    private final String vg;
    private final String lv;
    private final int leg;
    private final Set<String> justAttached;

    StoreLegMetadata(ClusterService cluster, String node, String path, int leg, Set<String> justAttached) {
        this.cluster = cluster;
        this.node = node;
        int slash = path.indexOf('/');
        this.vg = path.substring(0, slash);
        this.lv = path.substring(slash + 1);
        this.leg = leg;
        this.justAttached = justAttached;
    }

    private String path() {
        return vg + "/" + lv;
    }

    @Override
    public String node() {
        return node;
    }

    /**
     * Right after this node's own attach was applied here, the local replica holds every mapping
     * committed before it, and no one else can commit after it unless the attachment is shared
     * (a migration's destination, which reads the volume linearizably again at the switch-over).
     * Otherwise (an agent restarting, whose replica may still be catching up) it reads linearizably.
     */
    @Override
    public VolumeView initialView() throws IOException {
        if (justAttached.contains(path())) {
            try {
                return cluster.store().read(state -> state.volumes().view(path(), leg));
            } catch (Rejection gone) {
                throw new NbdErrorException(NbdProtocol.ESHUTDOWN, gone.getMessage());
            }
        }
        return view();
    }

    @Override
    public VolumeView view() throws IOException {
        try {
            return cluster.store().readLinearizable(state -> state.volumes().view(path(), leg));
        } catch (Rejection gone) {
            throw new NbdErrorException(NbdProtocol.ESHUTDOWN, gone.getMessage());
        } catch (StoreException e) {
            throw new NbdErrorException(NbdProtocol.EIO, path() + ": the store cannot be read: " + e.getMessage());
        }
    }

    @Override
    @SuppressWarnings("unchecked")
    public List<ChunkRef> reserve(long epoch, int count) throws IOException {
        return (List<ChunkRef>) submit(cluster, path(), new ReserveChunks(vg, lv, node, epoch, count, leg));
    }

    @Override
    public void commit(long epoch, List<ChunkMapping> mappings) throws IOException {
        submit(cluster, path(), new CommitChunks(vg, lv, node, epoch, mappings, leg));
    }

    /** Submits a volume's command; a rejection or a store that cannot commit becomes the NBD error the engine expects. */
    static Object submit(ClusterService cluster, String path, Command command) throws NbdErrorException {
        Result result;
        try {
            result = cluster.store().submitAndWait(command);
        } catch (StoreException e) {
            throw new NbdErrorException(NbdProtocol.EIO, path + ": " + e.getMessage());
        }
        return switch (result) {
            case Result.Applied applied -> applied.value();
            case Result.Rejected rejected -> throw new NbdErrorException(switch (rejected.reason()) {
                case NO_SPACE -> NbdProtocol.ENOSPC;
                case STALE_EPOCH, NOT_FOUND -> NbdProtocol.ESHUTDOWN;
                default -> NbdProtocol.EIO;
            }, path + ": " + rejected.message());
        };
    }
}
