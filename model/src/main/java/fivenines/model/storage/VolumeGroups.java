package fivenines.model.storage;

import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.state.Names;
import fivenines.model.state.Rejection;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Function;

/** Volume groups: which physical volumes each pools, created, extended, reduced and removed. */
final class VolumeGroups {
    private final TreeMap<String, VolumeGroup> groups = new TreeMap<>();
    /** The group of each grouped PV, so that finding it does not scan every group. */
    private final TreeMap<String, String> groupOfPv = new TreeMap<>();

    Collection<VolumeGroup> all() {
        return groups.values();
    }

    Optional<VolumeGroup> get(String name) {
        return Optional.ofNullable(groups.get(name));
    }

    VolumeGroup require(String name) {
        VolumeGroup group = groups.get(name);
        if (group == null) {
            throw Rejection.notFound("no volume group '" + name + "'; 'nines vg list' shows them");
        }
        return group;
    }

    Optional<VolumeGroup> groupOf(String physicalVolume) {
        String name = groupOfPv.get(physicalVolume);
        return name == null ? Optional.empty() : Optional.of(groups.get(name));
    }

    VolumeGroup create(CreateVolumeGroup command, Storage storage, long index) {
        Names.requireName("volume group", command.name());
        if (groups.containsKey(command.name())) {
            throw Rejection.conflict("volume group '" + command.name() + "' exists already");
        }
        List<String> ids = resolveFree(command.physicalVolumes(), storage, "create volume group " + command.name());
        if (ids.isEmpty()) {
            throw Rejection.invalid("a volume group needs at least one physical volume");
        }
        long extentSize = storage.requirePhysicalVolume(ids.getFirst()).extentSize();
        requireSameExtentSize(ids, storage, extentSize);
        var group = new VolumeGroup(command.name(), ids, extentSize, index);
        put(group);
        return group;
    }

    VolumeGroup extend(String name, List<String> references, Storage storage) {
        VolumeGroup group = require(name);
        List<String> ids = resolveFree(references, storage, "extend volume group " + name);
        if (ids.isEmpty()) {
            throw Rejection.invalid("name at least one physical volume to add");
        }
        requireSameExtentSize(ids, storage, group.extentSize());
        var all = new ArrayList<>(group.physicalVolumes());
        all.addAll(ids);
        VolumeGroup extended = group.withPhysicalVolumes(all);
        put(extended);
        return extended;
    }

    /** Takes PVs out of a group; {@code usedChunks} says how much of each is still in use (it must be none). */
    VolumeGroup reduce(String name, List<String> references, Storage storage, Function<String, Long> usedChunks) {
        VolumeGroup group = require(name);
        var remove = new LinkedHashSet<String>();
        for (String reference : references == null ? List.<String>of() : references) {
            String id = storage.requirePhysicalVolume(reference).id();
            if (!group.physicalVolumes().contains(id)) {
                throw Rejection.invalid("physical volume " + reference + " is not in volume group '" + name + "'");
            }
            long used = usedChunks.apply(id);
            if (used > 0) {
                throw Rejection.conflict("physical volume " + reference + " holds " + used
                    + " MiB of logical volumes in '" + name + "'; remove or move those volumes first");
            }
            remove.add(id);
        }
        if (remove.isEmpty()) {
            throw Rejection.invalid("name at least one physical volume to take out");
        }
        if (remove.size() == group.physicalVolumes().size()) {
            throw Rejection.conflict("that would leave volume group '" + name + "' empty; remove the group instead");
        }
        VolumeGroup reduced = group.withPhysicalVolumes(group.physicalVolumes().stream().filter(id -> !remove.contains(id)).toList());
        remove.forEach(groupOfPv::remove);
        put(reduced);
        return reduced;
    }

    /** Removes a group; {@code inside} lists the volumes it still holds (it must hold none). */
    VolumeGroup remove(String name, List<String> inside) {
        VolumeGroup group = require(name);
        if (!inside.isEmpty()) {
            throw Rejection.conflict("volume group '" + name + "' still holds " + inside + "; remove them first");
        }
        groups.remove(name);
        group.physicalVolumes().forEach(groupOfPv::remove);
        return group;
    }

    private void put(VolumeGroup group) {
        groups.put(group.name(), group);
        group.physicalVolumes().forEach(id -> groupOfPv.put(id, group.name()));
    }

    void clear() {
        groups.clear();
        groupOfPv.clear();
    }

    void restore(List<VolumeGroup> snapshot) {
        clear();
        (snapshot == null ? List.<VolumeGroup>of() : snapshot).forEach(this::put);
    }

    private List<String> resolveFree(List<String> references, Storage storage, String what) {
        var ids = new LinkedHashSet<String>();
        for (String reference : references == null ? List.<String>of() : references) {
            PhysicalVolume pv = storage.requirePhysicalVolume(reference);
            groupOf(pv.id()).ifPresent(g -> {
                throw Rejection.conflict("cannot " + what + ": physical volume " + pv.displayName()
                    + " already belongs to volume group '" + g.name() + "'");
            });
            if (!ids.add(pv.id())) {
                throw Rejection.invalid("physical volume " + pv.displayName() + " is named twice");
            }
        }
        return List.copyOf(ids);
    }

    private static void requireSameExtentSize(List<String> ids, Storage storage, long extentSize) {
        for (String id : ids) {
            PhysicalVolume pv = storage.requirePhysicalVolume(id);
            if (pv.extentSize() != extentSize) {
                throw Rejection.invalid("physical volume " + pv.displayName() + " has extents of " + pv.extentSize()
                    + " bytes; the volume group's are " + extentSize);
            }
        }
    }
}
