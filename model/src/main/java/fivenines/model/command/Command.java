package fivenines.model.command;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;

/**
 * A change to the cluster's desired state. Commands are immutable; applying one is
 * deterministic and validates everything, so every replica accepts or rejects it alike.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
    @JsonSubTypes.Type(value = CreateCluster.class, name = "create-cluster"),
    @JsonSubTypes.Type(value = AddNode.class, name = "add-node"),
    @JsonSubTypes.Type(value = RemoveNode.class, name = "remove-node"),
    @JsonSubTypes.Type(value = SetNodeState.class, name = "set-node-state"),
    @JsonSubTypes.Type(value = ChangeConfig.class, name = "change-config"),
    @JsonSubTypes.Type(value = AcquireLock.class, name = "acquire-lock"),
    @JsonSubTypes.Type(value = ReleaseLock.class, name = "release-lock"),
    @JsonSubTypes.Type(value = CancelLockWait.class, name = "cancel-lock-wait"),
    @JsonSubTypes.Type(value = CreatePhysicalVolume.class, name = "create-physical-volume"),
    @JsonSubTypes.Type(value = RemovePhysicalVolume.class, name = "remove-physical-volume"),
    @JsonSubTypes.Type(value = CreateVolumeGroup.class, name = "create-volume-group"),
    @JsonSubTypes.Type(value = ExtendVolumeGroup.class, name = "extend-volume-group"),
    @JsonSubTypes.Type(value = ReduceVolumeGroup.class, name = "reduce-volume-group"),
    @JsonSubTypes.Type(value = RemoveVolumeGroup.class, name = "remove-volume-group"),
    @JsonSubTypes.Type(value = CreateLogicalVolume.class, name = "create-logical-volume"),
    @JsonSubTypes.Type(value = ExtendLogicalVolume.class, name = "extend-logical-volume"),
    @JsonSubTypes.Type(value = RenameLogicalVolume.class, name = "rename-logical-volume"),
    @JsonSubTypes.Type(value = RemoveLogicalVolume.class, name = "remove-logical-volume"),
    @JsonSubTypes.Type(value = SnapshotLogicalVolume.class, name = "snapshot-logical-volume"),
    @JsonSubTypes.Type(value = AttachLogicalVolume.class, name = "attach-logical-volume"),
    @JsonSubTypes.Type(value = DetachLogicalVolume.class, name = "detach-logical-volume"),
    @JsonSubTypes.Type(value = ReserveChunks.class, name = "reserve-chunks"),
    @JsonSubTypes.Type(value = CommitChunks.class, name = "commit-chunks"),
    @JsonSubTypes.Type(value = DropLeg.class, name = "drop-leg"),
    @JsonSubTypes.Type(value = MarkRegions.class, name = "mark-regions"),
    @JsonSubTypes.Type(value = StartResync.class, name = "start-resync"),
    @JsonSubTypes.Type(value = ResyncLeg.class, name = "resync-leg"),
    @JsonSubTypes.Type(value = RepairedRegions.class, name = "repaired-regions"),
    @JsonSubTypes.Type(value = AddLeg.class, name = "add-leg"),
    @JsonSubTypes.Type(value = RemoveLeg.class, name = "remove-leg"),
    @JsonSubTypes.Type(value = DefineVm.class, name = "define-vm"),
    @JsonSubTypes.Type(value = RemoveVm.class, name = "remove-vm"),
    @JsonSubTypes.Type(value = SetVmDesired.class, name = "set-vm-desired"),
    @JsonSubTypes.Type(value = ReportVmStatus.class, name = "report-vm-status"),
    @JsonSubTypes.Type(value = MigrateVm.class, name = "migrate-vm"),
    @JsonSubTypes.Type(value = ReportNodeResources.class, name = "report-node-resources"),
    @JsonSubTypes.Type(value = RecordCertificate.class, name = "record-certificate"),
    @JsonSubTypes.Type(value = RenewLease.class, name = "renew-lease"),
    @JsonSubTypes.Type(value = RecordFencing.class, name = "record-fencing"),
    @JsonSubTypes.Type(value = SetVmHa.class, name = "set-vm-ha"),
    @JsonSubTypes.Type(value = RecoverVm.class, name = "recover-vm"),
    @JsonSubTypes.Type(value = SetMaintenance.class, name = "set-maintenance"),
    @JsonSubTypes.Type(value = RotateSecret.class, name = "rotate-secret"),
})
public sealed interface Command
    permits CreateCluster, AddNode, RemoveNode, SetNodeState, ChangeConfig,
            AcquireLock, ReleaseLock, CancelLockWait, CreatePhysicalVolume, RemovePhysicalVolume,
            CreateVolumeGroup, ExtendVolumeGroup, ReduceVolumeGroup, RemoveVolumeGroup,
            CreateLogicalVolume, ExtendLogicalVolume, RenameLogicalVolume, RemoveLogicalVolume,
            SnapshotLogicalVolume, AttachLogicalVolume, DetachLogicalVolume, ReserveChunks, CommitChunks,
            DropLeg, MarkRegions, StartResync, ResyncLeg, RepairedRegions, AddLeg, RemoveLeg,
            DefineVm, RemoveVm, SetVmDesired, ReportVmStatus, MigrateVm, ReportNodeResources,
            RecordCertificate, RenewLease, RecordFencing, SetVmHa, RecoverVm, SetMaintenance, RotateSecret {
}
