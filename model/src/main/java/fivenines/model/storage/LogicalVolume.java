package fivenines.model.storage;

import java.util.List;

/**
 * A volume carved from a volume group: extent {@code i} of the volume is {@code extents.get(i)}.
 *
 * @param size    bytes, a whole number of extents
 * @param epoch   bumped at each attachment; block services refuse I/O carrying an older one
 */
public record LogicalVolume(String volumeGroup, String name, long size, List<ExtentRef> extents, long epoch,
                            long createdAt) {
    public LogicalVolume {
        extents = List.copyOf(extents);
    }

    public String path() {
        return volumeGroup + "/" + name;
    }

    public LogicalVolume withExtents(long newSize, List<ExtentRef> newExtents) {
        return new LogicalVolume(volumeGroup, name, newSize, newExtents, epoch, createdAt);
    }

    public LogicalVolume withName(String newName) {
        return new LogicalVolume(volumeGroup, newName, size, extents, epoch, createdAt);
    }

    /** The nodes holding its extents, resolved through the physical volumes. */
    public List<String> physicalVolumes() {
        return extents.stream().map(ExtentRef::physicalVolume).distinct().toList();
    }
}
