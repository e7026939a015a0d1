package fivenines.model.storage;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.List;
import java.util.Optional;

/**
 * A volume carved from a volume group. Its data lives in chunks of {@link Volumes#CHUNK_SIZE}
 * bytes, on each of its legs, found through the leg's top layer and that layer's ancestors
 * (shared with snapshots).
 *
 * @param size        bytes, a whole number of the group's extents
 * @param thin        whether chunks are taken on first write (else all are taken at creation)
 * @param epoch       bumped when the set of writers changes; block services refuse I/O with an older one
 * @param attachments nodes serving it now
 * @param origin      the volume it was snapshotted from, or null
 * @param readOnly    a read-only snapshot
 * @param createdAt   log index of its creation
 * @param legs        its copies: one for a plain volume, 2 or 3 for a mirrored one, each on its own node
 */
public record LogicalVolume(String volumeGroup, String name, long size, boolean thin, long epoch,
                            List<Attachment> attachments, String origin, boolean readOnly, long createdAt, List<Leg> legs) {
    public LogicalVolume {
        attachments = List.copyOf(attachments);
        legs = List.copyOf(legs);
        if (legs.isEmpty()) {
            throw new IllegalArgumentException("a logical volume needs at least one leg");
        }
    }

    /** Reads the form before legs too: a volume with one {@code layer} is a volume of one leg. */
    @JsonCreator
    static LogicalVolume read(@JsonProperty("volumeGroup") String volumeGroup, @JsonProperty("name") String name,
                              @JsonProperty("size") long size, @JsonProperty("thin") boolean thin,
                              @JsonProperty("layer") Long layer, @JsonProperty("epoch") long epoch,
                              @JsonProperty("attachments") List<Attachment> attachments, @JsonProperty("origin") String origin,
                              @JsonProperty("readOnly") boolean readOnly, @JsonProperty("createdAt") long createdAt,
                              @JsonProperty("legs") List<Leg> legs) {
        List<Leg> all = legs != null && !legs.isEmpty() ? legs : List.of(Leg.single(layer == null ? 0 : layer));
        return new LogicalVolume(volumeGroup, name, size, thin, epoch, attachments == null ? List.of() : attachments,
            origin, readOnly, createdAt, all);
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

    public boolean mirrored() {
        return legs.size() > 1;
    }

    public Optional<Leg> leg(int index) {
        return legs.stream().filter(l -> l.index() == index).findFirst();
    }

    /** The legs in the set (holding every acknowledged write). */
    public List<Leg> inSyncLegs() {
        return legs.stream().filter(Leg::inSync).toList();
    }

    /** Whether a leg is behind: the volume is degraded until every leg is in sync. */
    public boolean degraded() {
        return legs.stream().anyMatch(l -> !l.inSync());
    }

    LogicalVolume withSize(long newSize) {
        return new LogicalVolume(volumeGroup, name, newSize, thin, epoch, attachments, origin, readOnly, createdAt, legs);
    }

    LogicalVolume withName(String newName) {
        return new LogicalVolume(volumeGroup, newName, size, thin, epoch, attachments, origin, readOnly, createdAt, legs);
    }

    LogicalVolume withOrigin(String newOrigin) {
        return new LogicalVolume(volumeGroup, name, size, thin, epoch, attachments, newOrigin, readOnly, createdAt, legs);
    }

    LogicalVolume withLegs(List<Leg> newLegs) {
        return new LogicalVolume(volumeGroup, name, size, thin, epoch, attachments, origin, readOnly, createdAt, newLegs);
    }

    LogicalVolume withLeg(Leg replacement) {
        return withLegs(legs.stream().map(l -> l.index() == replacement.index() ? replacement : l).toList());
    }

    LogicalVolume withEpoch(long newEpoch) {
        return new LogicalVolume(volumeGroup, name, size, thin, newEpoch, attachments, origin, readOnly, createdAt, legs);
    }

    LogicalVolume withAttachments(long newEpoch, List<Attachment> newAttachments) {
        return new LogicalVolume(volumeGroup, name, size, thin, newEpoch, newAttachments, origin, readOnly, createdAt, legs);
    }
}
