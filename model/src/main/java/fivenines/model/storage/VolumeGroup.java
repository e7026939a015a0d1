package fivenines.model.storage;

import java.util.List;

/** Physical volumes, on any nodes, pooled under one name; logical volumes take their extents from it. */
public record VolumeGroup(String name, List<String> physicalVolumes, long extentSize, long createdAt) {
    public VolumeGroup {
        physicalVolumes = List.copyOf(physicalVolumes);
    }

    public VolumeGroup withPhysicalVolumes(List<String> ids) {
        return new VolumeGroup(name, ids, extentSize, createdAt);
    }
}
