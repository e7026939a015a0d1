package fivenines.model.state;

import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.AcquireLock;
import fivenines.model.command.AddLeg;
import fivenines.model.command.AddNode;
import fivenines.model.command.DropLeg;
import fivenines.model.command.MarkRegions;
import fivenines.model.command.RemoveLeg;
import fivenines.model.command.RepairedRegions;
import fivenines.model.command.ResyncLeg;
import fivenines.model.command.StartResync;
import fivenines.model.command.DefineVm;
import fivenines.model.command.MigrateVm;
import fivenines.model.command.RecordFencing;
import fivenines.model.command.RecoverVm;
import fivenines.model.command.RemoveVm;
import fivenines.model.command.RenewLease;
import fivenines.model.command.SetVmHa;
import fivenines.model.command.SetMaintenance;
import fivenines.model.command.ReportNodeResources;
import fivenines.model.command.ReportVmStatus;
import fivenines.model.command.SetVmDesired;
import fivenines.model.command.AttachLogicalVolume;
import fivenines.model.command.CommitChunks;
import fivenines.model.command.DetachLogicalVolume;
import fivenines.model.command.ReserveChunks;
import fivenines.model.command.SnapshotLogicalVolume;
import fivenines.model.command.CancelLockWait;
import fivenines.model.command.ChangeConfig;
import fivenines.model.command.Command;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.ExtendLogicalVolume;
import fivenines.model.command.ExtendVolumeGroup;
import fivenines.model.command.ReduceVolumeGroup;
import fivenines.model.command.RemoveLogicalVolume;
import fivenines.model.command.RemoveVolumeGroup;
import fivenines.model.command.RenameLogicalVolume;
import fivenines.model.command.RemovePhysicalVolume;
import fivenines.model.command.ReleaseLock;
import fivenines.model.command.RecordCertificate;
import fivenines.model.command.RotateSecret;
import fivenines.model.command.RemoveNode;
import fivenines.model.command.SetNodeState;
import fivenines.model.lock.LockHolder;
import fivenines.model.storage.PhysicalVolume;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;

/**
 * Applies commands to a {@link ClusterState}. Each handler validates everything before it
 * changes anything, so a rejected command leaves the state exactly as it was.
 * Deterministic: the outcome depends only on the state, the command and the log index.
 */
public final class StateMachine {
    private final ClusterState state;

    public StateMachine(ClusterState state) {
        this.state = state;
    }

    public ClusterState state() {
        return state;
    }

    public Result apply(Command command, long index) {
        requireNew(index);
        try {
            return decide(command, index);
        } finally {
            state.setAppliedIndex(index);
        }
    }

    /**
     * Applies the commands of one log entry in their order, each with that entry's index, each
     * applied or rejected on its own: a rejected one changes nothing and the others still apply.
     * A batch may hold only config changes and lock commands, at most one command per lock: the
     * index is a lock's fencing token, and one entry must not grant one lock twice. A batch that
     * breaks that rule is rejected whole (every result rejected, nothing changed).
     */
    public List<Result> applyBatch(List<Command> commands, long index) {
        requireNew(index);
        try {
            String refusal = batchRefusal(commands);
            if (refusal != null) {
                var rejected = new ArrayList<Result>(commands.size());
                for (int i = 0; i < commands.size(); i++) {
                    rejected.add(new Result.Rejected(index, Rejection.Reason.INVALID, refusal));
                }
                return rejected;
            }
            var results = new ArrayList<Result>(commands.size());
            for (Command command : commands) {
                results.add(decide(command, index));
            }
            return results;
        } finally {
            state.setAppliedIndex(index);
        }
    }

    /** What a batch may hold: the commands below, at most one per lock. The key a command is batched apart by, or null. */
    public static String batchKey(Command command) {
        return switch (command) {
            case ChangeConfig c -> "config";
            case AcquireLock c -> "lock:" + c.name();
            case ReleaseLock c -> "lock:" + c.name();
            case CancelLockWait c -> "lock:" + c.name();
            default -> null;
        };
    }

    /** Why these commands cannot be one batch, or null when they can. */
    public static String batchRefusal(List<Command> commands) {
        if (commands.isEmpty()) {
            return "a batch of commands is empty";
        }
        var locks = new HashSet<String>();
        for (Command command : commands) {
            String key = batchKey(command);
            if (key == null) {
                return "a batch of commands cannot hold " + command.getClass().getSimpleName()
                    + ": only config changes and lock commands are batched";
            }
            if (!key.equals("config") && !locks.add(key)) {
                return "a batch of commands holds two commands on " + key + ": one entry must not grant one lock twice";
            }
        }
        return null;
    }

    private void requireNew(long index) {
        if (index <= state.appliedIndex()) {
            throw new IllegalStateException("log index " + index + " applied twice (applied up to "
                + state.appliedIndex() + ")");
        }
    }

    private Result decide(Command command, long index) {
        try {
            Object value = switch (command) {
                case CreateCluster c -> {
                    state.membership().create(c, index);
                    yield state.membership().snapshot().nodes().getFirst();
                }
                case AddNode c -> state.membership().add(c, index);
                case RemoveNode c -> removeNode(c, index);
                case SetNodeState c -> setNodeState(c, index);
                case ChangeConfig c -> {
                    state.membership().requireInitialized();
                    yield state.configuration().apply(c);
                }
                case AcquireLock c -> {
                    requireMember(c.node());
                    yield state.locks().acquire(c, index);
                }
                case ReleaseLock c -> state.locks().release(c, index);
                case CancelLockWait c -> state.locks().cancelWait(c, index);
                case CreatePhysicalVolume c -> state.storage().create(c, state.membership(), index);
                case RemovePhysicalVolume c -> {
                    state.membership().requireInitialized();
                    var pv = state.storage().requirePhysicalVolume(c.id());
                    state.volumes().groupOf(pv.id()).ifPresent(g -> {
                        throw Rejection.conflict("physical volume " + pv.displayName() + " is in volume group '" + g.name()
                            + "'; take it out first ('nines vg reduce " + g.name() + " " + pv.displayName() + "')");
                    });
                    yield state.storage().remove(pv.id());
                }
                case CreateVolumeGroup c -> {
                    state.membership().requireInitialized();
                    yield state.volumes().createGroup(c, state.storage(), index);
                }
                case ExtendVolumeGroup c -> state.volumes().extendGroup(c.name(), c.physicalVolumes(), state.storage());
                case ReduceVolumeGroup c -> state.volumes().reduceGroup(c.name(), c.physicalVolumes(), state.storage());
                case RemoveVolumeGroup c -> state.volumes().removeGroup(c.name());
                case CreateLogicalVolume c -> state.volumes().createVolume(c, state.storage(), state.membership(), index);
                case ExtendLogicalVolume c -> state.volumes().extendVolume(c, state.storage(), state.membership());
                case RenameLogicalVolume c -> {
                    requireUnused(c.volumeGroup() + "/" + c.name(), "rename");
                    yield state.volumes().renameVolume(c.volumeGroup(), c.name(), c.newName());
                }
                case RemoveLogicalVolume c -> {
                    requireUnused(c.volumeGroup() + "/" + c.name(), "remove");
                    yield state.volumes().removeVolume(c.volumeGroup(), c.name());
                }
                case SnapshotLogicalVolume c -> state.volumes().snapshotVolume(c, index);
                case AttachLogicalVolume c -> state.volumes().attach(c, state.membership(), index);
                case DetachLogicalVolume c -> state.volumes().detach(c);
                case ReserveChunks c -> state.volumes().reserve(c, state.storage(), state.membership());
                case CommitChunks c -> state.volumes().commit(c);
                case DropLeg c -> state.volumes().dropLeg(c);
                case MarkRegions c -> state.volumes().markRegions(c);
                case StartResync c -> state.volumes().startResync(c, state.membership());
                case ResyncLeg c -> state.volumes().resyncLeg(c);
                case RepairedRegions c -> state.volumes().repairedRegions(c);
                case AddLeg c -> state.volumes().addLeg(c, state.membership());
                case RemoveLeg c -> state.volumes().removeLeg(c);
                case DefineVm c -> {
                    state.membership().requireInitialized();
                    yield state.vms().define(c, state.volumes(), index);
                }
                case RemoveVm c -> state.vms().remove(c.name());
                case SetVmDesired c -> state.vms().setDesired(c, state.membership());
                case ReportVmStatus c -> state.vms().report(c);
                case MigrateVm c -> state.vms().migrate(c, state.membership());
                case ReportNodeResources c -> state.vms().reportResources(c, state.membership());
                case RecordCertificate c -> state.membership().recordCertificate(c.node(), c.serial());
                case RenewLease c -> renewLease(c);
                case RecordFencing c -> state.fencing().record(c, state.membership(), index);
                case SetVmHa c -> state.vms().setHa(c);
                case RecoverVm c -> state.vms().recover(c, state.membership(), state.fencing());
                case SetMaintenance c -> state.maintenance().set(c, state.membership(), index);
                case RotateSecret c -> state.membership().rotateSecret(c, index);
            };
            return new Result.Applied(index, value);
        } catch (Rejection rejection) {
            return new Result.Rejected(index, rejection.reason(), rejection.getMessage());
        }
    }

    private NodeRemoved removeNode(RemoveNode command, long index) {
        state.membership().requireNode(command.name());
        List<PhysicalVolume> disks = state.storage().physicalVolumes().stream()
            .filter(pv -> pv.node().equals(command.name())).toList();
        List<PhysicalVolume> grouped = disks.stream().filter(pv -> state.volumes().groupOf(pv.id()).isPresent()).toList();
        if (RemoveNode.LEFT.equals(command.reason()) && !grouped.isEmpty()) {
            var held = grouped.stream().map(pv -> pv.displayName() + " (in volume group '"
                + state.volumes().groupOf(pv.id()).orElseThrow().name() + "')").toList();
            var first = grouped.getFirst();
            throw Rejection.conflict("node '" + command.name() + "' cannot leave while it offers " + String.join(", ", held)
                + ": the group's volumes would lose their extents there; take each out first ('nines vg reduce "
                + state.volumes().groupOf(first.id()).orElseThrow().name() + " " + first.displayName() + "'), then leave");
        }
        Optional<Node> promoted = state.membership().remove(command.name());
        List<LockHolder> granted = state.locks().releaseAllOf(command.name(), index);
        state.volumes().detachAll(command.name());
        state.vms().nodeRemoved(command.name());
        state.fencing().forget(command.name());
        state.maintenance().forget(command.name());
        // a disk in no group holds nothing: it goes with its node (a grouped one stays, missing, for its volumes' sake)
        List<PhysicalVolume> forgotten = disks.stream().filter(pv -> !grouped.contains(pv)).toList();
        forgotten.forEach(pv -> state.storage().remove(pv.id()));
        return new NodeRemoved(command.name(), promoted.orElse(null), granted, forgotten);
    }

    private Node setNodeState(SetNodeState command, long index) {
        Node node = state.membership().setState(command.name(), command.state());
        if (command.state() == NodeState.DOWN) {
            // storage fencing (invariant 2): every volume attached there moves its epoch in this same command, so
            // a node declared down that still runs has every further write refused by every block service
            state.locks().releaseAllOf(command.name(), index);
            state.volumes().detachAll(command.name());
        } else {
            state.fencing().forget(command.name()); // heard again: it rejoins clean
        }
        return node;
    }

    private String renewLease(RenewLease command) {
        state.membership().requireInitialized();
        Node member = state.membership().requireNode(command.node());
        if (member.state() == NodeState.DOWN) {
            throw Rejection.nodeDown("node '" + command.node() + "' is declared down: its lease is gone and its HA guests"
                + " may run elsewhere; it renews again once the manager hears it and declares it up");
        }
        return command.node();
    }

    private void requireUnused(String volume, String what) {
        List<String> users = state.vms().usersOf(volume);
        if (!users.isEmpty()) {
            throw Rejection.conflict("cannot " + what + " " + volume + ": it is a disk of VM " + users
                + "; change or remove the VM first");
        }
    }

    private void requireMember(String node) {
        state.membership().requireInitialized();
        if (node != null) {
            Node member = state.membership().requireNode(node);
            if (member.state() == NodeState.DOWN) {
                throw Rejection.nodeDown("node '" + node + "' is declared down and cannot take locks until it is up again");
            }
        }
    }

    /** The value of an applied {@link RemoveNode}. */
    public record NodeRemoved(String name, Node promoted, List<LockHolder> granted, List<PhysicalVolume> forgottenDisks) {
    }
}
