package fivenines.model.storage;

import java.util.List;
import java.util.Optional;

/**
 * A volume carved from a volume group. Its data lives in chunks of {@link Volumes#CHUNK_SIZE}
 * bytes, found through its top layer and that layer's ancestors (shared with snapshots).
 *
 * @param size        bytes, a whole number of the group's extents
 * @param thin        whether chunks are taken on first write (else all are taken at creation)
 * @param layer       id of its top layer, which only this volume writes
 * @param epoch       bumped when the set of writers changes; block services refuse I/O with an older one
 * @param attachments nodes serving it now
 * @param origin      the volume it was snapshotted from, or null
 * @param readOnly    a read-only snapshot
 * @param createdAt   log index of its creation
 */
public record LogicalVolume(String volumeGroup, String name, long size, boolean thin, long layer, long epoch,
                            List<Attachment> attachments, String origin, boolean readOnly, long createdAt) {
    public LogicalVolume {
        attachments = List.copyOf(attachments);
    }

    public String path() {
        return volumeGroup + "/" + name;
    }

    /** Chunks the volume spans. */
    public long chunks() {
        return (size + Volumes.CHUNK_SIZE - 1) / Volumes.CHUNK_SIZE;
    }

    public Optional<Attachment> attachment(String node) {
        return attachments.stream().filter(a -> a.node().equals(node)).findFirst();
    }

    public boolean attached() {
        return !attachments.isEmpty();
    }

    LogicalVolume withSize(long newSize) {
        return new LogicalVolume(volumeGroup, name, newSize, thin, layer, epoch, attachments, origin, readOnly, createdAt);
    }

    LogicalVolume withName(String newName) {
        return new LogicalVolume(volumeGroup, newName, size, thin, layer, epoch, attachments, origin, readOnly, createdAt);
    }

    LogicalVolume withLayer(long newLayer) {
        return new LogicalVolume(volumeGroup, name, size, thin, newLayer, epoch, attachments, origin, readOnly, createdAt);
    }

    LogicalVolume withAttachments(long newEpoch, List<Attachment> newAttachments) {
        return new LogicalVolume(volumeGroup, name, size, thin, layer, newEpoch, newAttachments, origin, readOnly, createdAt);
    }
}
