package fivenines.model.state;

import fivenines.model.cluster.Membership;
import fivenines.model.config.Configuration;
import fivenines.model.ha.Fencing;
import fivenines.model.ha.Maintenance;
import fivenines.model.ha.NodeMaintenance;
import fivenines.model.ha.NodeFencing;
import fivenines.model.lock.Lock;
import fivenines.model.lock.LockTable;
import fivenines.model.storage.PhysicalVolume;
import fivenines.model.storage.Storage;
import fivenines.model.storage.Volumes;
import fivenines.model.vm.Vms;

import java.util.List;

/**
 * The whole desired state of the cluster, as every replica holds it. Only
 * {@link StateMachine} changes it; readers on other threads go through the store's read lock.
 */
public final class ClusterState {
    private final Membership membership = new Membership();
    private final Configuration configuration = new Configuration();
    private final LockTable locks = new LockTable();
    private final Storage storage = new Storage();
    private final Volumes volumes = new Volumes(storage);
    private final Maintenance maintenance = new Maintenance();
    private final Vms vms = new Vms(maintenance);
    private final Fencing fencing = new Fencing();
    private long appliedIndex;

    public Membership membership() {
        return membership;
    }

    public Configuration configuration() {
        return configuration;
    }

    public LockTable locks() {
        return locks;
    }

    public Storage storage() {
        return storage;
    }

    public Volumes volumes() {
        return volumes;
    }

    public Vms vms() {
        return vms;
    }

    public Fencing fencing() {
        return fencing;
    }

    public Maintenance maintenance() {
        return maintenance;
    }

    public long appliedIndex() {
        return appliedIndex;
    }

    void setAppliedIndex(long index) {
        appliedIndex = index;
    }

    public Snapshot snapshot() {
        return new Snapshot(appliedIndex, membership.snapshot(), configuration.snapshot(), locks.snapshot(),
            storage.snapshot(), volumes.snapshot(), vms.snapshot(), fencing.snapshot(), maintenance.snapshot());
    }

    public void restore(Snapshot snapshot) {
        appliedIndex = snapshot.appliedIndex();
        membership.restore(snapshot.membership());
        configuration.restore(snapshot.configuration());
        locks.restore(snapshot.locks());
        storage.restore(snapshot.physicalVolumes());
        volumes.restore(snapshot.volumes());
        vms.restore(snapshot.vms());
        fencing.restore(snapshot.fencing());
        maintenance.restore(snapshot.maintenance());
    }

    /** The serialisable form of the whole state; also what a snapshot file holds. */
    public record Snapshot(long appliedIndex, Membership.Snapshot membership, Configuration.Snapshot configuration,
                           List<Lock> locks, List<PhysicalVolume> physicalVolumes, Volumes.Snapshot volumes,
                           Vms.Snapshot vms, List<NodeFencing> fencing,
                           List<NodeMaintenance> maintenance) {
    }
}
