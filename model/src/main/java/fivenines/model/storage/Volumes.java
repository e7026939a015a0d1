package fivenines.model.storage;

import fivenines.model.cluster.Membership;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.ExtendLogicalVolume;
import fivenines.model.state.Names;
import fivenines.model.state.Rejection;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Volume groups and logical volumes, and which extents of which physical volumes they use.
 * Allocation is all or nothing: a command that cannot get every extent it needs is rejected
 * before anything is taken. The map of used extents is derived from the volumes.
 */
public final class Volumes {
    private final TreeMap<String, VolumeGroup> groups = new TreeMap<>();
    private final TreeMap<String, LogicalVolume> volumes = new TreeMap<>();
    private final Map<String, BitSet> used = new HashMap<>();

    public Collection<VolumeGroup> groups() {
        return groups.values();
    }

    public Collection<LogicalVolume> volumes() {
        return volumes.values();
    }

    public Optional<VolumeGroup> group(String name) {
        return Optional.ofNullable(groups.get(name));
    }

    public VolumeGroup requireGroup(String name) {
        VolumeGroup group = groups.get(name);
        if (group == null) {
            throw Rejection.notFound("no volume group '" + name + "'; 'nines vg list' shows them");
        }
        return group;
    }

    public LogicalVolume requireVolume(String group, String name) {
        LogicalVolume volume = volumes.get(group + "/" + name);
        if (volume == null) {
            throw Rejection.notFound("no logical volume '" + group + "/" + name + "'; 'nines lv list' shows them");
        }
        return volume;
    }

    public long usedExtents(String physicalVolume) {
        BitSet bits = used.get(physicalVolume);
        return bits == null ? 0 : bits.cardinality();
    }

    public long freeExtents(VolumeGroup group, Storage storage) {
        return group.physicalVolumes().stream().mapToLong(id -> storage.requirePhysicalVolume(id).extents() - usedExtents(id)).sum();
    }

    public long totalExtents(VolumeGroup group, Storage storage) {
        return group.physicalVolumes().stream().mapToLong(id -> storage.requirePhysicalVolume(id).extents()).sum();
    }

    /** Whether any volume group holds this physical volume. */
    public Optional<VolumeGroup> groupOf(String physicalVolume) {
        return groups.values().stream().filter(g -> g.physicalVolumes().contains(physicalVolume)).findFirst();
    }

    public VolumeGroup createGroup(CreateVolumeGroup command, Storage storage, long index) {
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
        groups.put(group.name(), group);
        return group;
    }

    public VolumeGroup extendGroup(String name, List<String> references, Storage storage) {
        VolumeGroup group = requireGroup(name);
        List<String> ids = resolveFree(references, storage, "extend volume group " + name);
        if (ids.isEmpty()) {
            throw Rejection.invalid("name at least one physical volume to add");
        }
        requireSameExtentSize(ids, storage, group.extentSize());
        var all = new ArrayList<>(group.physicalVolumes());
        all.addAll(ids);
        VolumeGroup extended = group.withPhysicalVolumes(all);
        groups.put(name, extended);
        return extended;
    }

    public VolumeGroup reduceGroup(String name, List<String> references, Storage storage) {
        VolumeGroup group = requireGroup(name);
        var remove = new LinkedHashSet<String>();
        for (String reference : references == null ? List.<String>of() : references) {
            String id = storage.requirePhysicalVolume(reference).id();
            if (!group.physicalVolumes().contains(id)) {
                throw Rejection.invalid("physical volume " + reference + " is not in volume group '" + name + "'");
            }
            if (usedExtents(id) > 0) {
                throw Rejection.conflict("physical volume " + reference + " holds " + usedExtents(id)
                    + " extents of logical volumes in '" + name + "'; remove or move those volumes first");
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
        groups.put(name, reduced);
        return reduced;
    }

    public VolumeGroup removeGroup(String name) {
        VolumeGroup group = requireGroup(name);
        List<String> inside = volumes.values().stream().filter(v -> v.volumeGroup().equals(name)).map(LogicalVolume::path).toList();
        if (!inside.isEmpty()) {
            throw Rejection.conflict("volume group '" + name + "' still holds " + inside + "; remove them first");
        }
        groups.remove(name);
        return group;
    }

    public LogicalVolume createVolume(CreateLogicalVolume command, Storage storage, Membership membership, long index) {
        VolumeGroup group = requireGroup(command.volumeGroup());
        Names.requireName("logical volume", command.name());
        if (volumes.containsKey(command.volumeGroup() + "/" + command.name())) {
            throw Rejection.conflict("logical volume '" + command.volumeGroup() + "/" + command.name() + "' exists already");
        }
        if (command.preferNode() != null) {
            membership.requireNode(command.preferNode());
        }
        long extents = extentsFor(command.size(), group);
        List<ExtentRef> taken = allocate(group, extents, command.preferNode(), storage, membership);
        var volume = new LogicalVolume(group.name(), command.name(), extents * group.extentSize(), taken, 0, index);
        volumes.put(volume.path(), volume);
        mark(taken, true);
        return volume;
    }

    public LogicalVolume extendVolume(ExtendLogicalVolume command, Storage storage, Membership membership) {
        LogicalVolume volume = requireVolume(command.volumeGroup(), command.name());
        VolumeGroup group = requireGroup(volume.volumeGroup());
        long extents = extentsFor(command.newSize(), group);
        long have = volume.extents().size();
        if (extents <= have) {
            throw Rejection.invalid(volume.path() + " is " + volume.size() + " bytes already; shrinking is not supported");
        }
        String preferNode = volume.extents().isEmpty() ? null
            : storage.requirePhysicalVolume(volume.extents().getLast().physicalVolume()).node();
        List<ExtentRef> taken = allocate(group, extents - have, preferNode, storage, membership);
        var all = new ArrayList<>(volume.extents());
        all.addAll(taken);
        LogicalVolume extended = volume.withExtents(extents * group.extentSize(), all);
        volumes.put(extended.path(), extended);
        mark(taken, true);
        return extended;
    }

    public LogicalVolume renameVolume(String group, String name, String newName) {
        LogicalVolume volume = requireVolume(group, name);
        Names.requireName("logical volume", newName);
        if (volumes.containsKey(group + "/" + newName)) {
            throw Rejection.conflict("logical volume '" + group + "/" + newName + "' exists already");
        }
        volumes.remove(volume.path());
        LogicalVolume renamed = volume.withName(newName);
        volumes.put(renamed.path(), renamed);
        return renamed;
    }

    public LogicalVolume removeVolume(String group, String name) {
        LogicalVolume volume = requireVolume(group, name);
        volumes.remove(volume.path());
        mark(volume.extents(), false);
        return volume;
    }

    private static long extentsFor(long size, VolumeGroup group) {
        if (size <= 0) {
            throw Rejection.invalid("size must be positive, not " + size);
        }
        long extents = (size + group.extentSize() - 1) / group.extentSize();
        if (extents > Integer.MAX_VALUE) {
            throw Rejection.invalid("size " + size + " is beyond what a volume can hold");
        }
        return extents;
    }

    /** Picks free extents, on the preferred node's PVs first; takes nothing unless it finds them all. */
    private List<ExtentRef> allocate(VolumeGroup group, long count, String preferNode, Storage storage, Membership membership) {
        var order = new ArrayList<PhysicalVolume>();
        var others = new ArrayList<PhysicalVolume>();
        long down = 0;
        for (String id : group.physicalVolumes()) {
            PhysicalVolume pv = storage.requirePhysicalVolume(id);
            boolean nodeUp = membership.node(pv.node()).map(n -> n.state() == NodeState.UP).orElse(false);
            if (!nodeUp) {
                down += pv.extents() - usedExtents(id);
                continue;
            }
            (pv.node().equals(preferNode) ? order : others).add(pv);
        }
        order.addAll(others);
        var taken = new ArrayList<ExtentRef>();
        for (PhysicalVolume pv : order) {
            BitSet bits = used.getOrDefault(pv.id(), new BitSet());
            for (int i = bits.nextClearBit(0); i < pv.extents() && taken.size() < count; i = bits.nextClearBit(i + 1)) {
                taken.add(new ExtentRef(pv.id(), i));
            }
            if (taken.size() == count) {
                return taken;
            }
        }
        throw Rejection.conflict("volume group '" + group.name() + "' has " + taken.size() + " free extents on nodes that are up"
            + (down > 0 ? " (and " + down + " on nodes that are down)" : "") + "; " + count + " are needed. "
            + "Add space with 'nines vg extend' or free some with 'nines lv remove'");
    }

    private void mark(List<ExtentRef> extents, boolean inUse) {
        for (ExtentRef extent : extents) {
            BitSet bits = used.computeIfAbsent(extent.physicalVolume(), id -> new BitSet());
            bits.set((int) extent.index(), inUse);
        }
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

    public Snapshot snapshot() {
        return new Snapshot(List.copyOf(groups.values()), List.copyOf(volumes.values()));
    }

    public void restore(Snapshot snapshot) {
        groups.clear();
        volumes.clear();
        used.clear();
        if (snapshot == null) {
            return;
        }
        snapshot.groups().forEach(g -> groups.put(g.name(), g));
        snapshot.volumes().forEach(v -> {
            volumes.put(v.path(), v);
            mark(v.extents(), true);
        });
    }

    /** The serialisable form of this part of the state. */
    public record Snapshot(List<VolumeGroup> groups, List<LogicalVolume> volumes) {
    }
}
