package fivenines.model.storage;

import fivenines.model.cluster.Membership;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.AttachLogicalVolume;
import fivenines.model.command.CommitChunks;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.DetachLogicalVolume;
import fivenines.model.command.ExtendLogicalVolume;
import fivenines.model.command.ReserveChunks;
import fivenines.model.command.SnapshotLogicalVolume;
import fivenines.model.state.Names;
import fivenines.model.state.Rejection;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Volume groups and logical volumes, and which chunks of which physical volumes they use.
 *
 * <p>A volume's data is found through layers: its top layer maps chunks the volume wrote
 * since its last snapshot; the layer's parent (frozen, shared with snapshots) maps older ones.
 * A snapshot freezes the top layer and gives origin and snapshot a new empty top each, so it
 * takes constant time. A layer that no volume can see any more is freed, and a frozen layer
 * left with one child is merged into it, so removing a snapshot frees exactly the chunks only
 * it used. A thick volume takes all its chunks at creation into a pool of its own, and maps them
 * on first write like a thin one, so that a new volume reads as zeroes whatever its chunks held
 * before. Every change validates first: a rejected command changes nothing. Allocation is all
 * or nothing. The map of used chunks is derived from the layers and reservations.
 */
public final class Volumes {
    /** Unit of copy-on-write and of thin allocation. */
    public static final long CHUNK_SIZE = 1L << 20;
    /** Chunks a volume's chain may not exceed; snapshots deeper than this are refused. */
    public static final int MAX_CHAIN = 64;

    private final TreeMap<String, VolumeGroup> groups = new TreeMap<>();
    private final TreeMap<String, LogicalVolume> volumes = new TreeMap<>();
    private final TreeMap<Long, Layer> layers = new TreeMap<>();
    private final Map<String, BitSet> used = new HashMap<>();
    /** A thick volume's chunks not yet written: taken at creation so its writes never run out of space. */
    private final Map<String, List<ChunkRef>> pools = new HashMap<>();
    private long nextLayer = 1;

    /** A set of chunk mappings, writable while it is a volume's top, frozen once it has children. */
    private static final class Layer {
        final long id;
        Long parent;
        String top;
        final Set<Long> children = new TreeSet<>();
        final TreeMap<Long, ChunkRef> chunks = new TreeMap<>();

        Layer(long id, Long parent, String top) {
            this.id = id;
            this.parent = parent;
            this.top = top;
        }
    }

    public Collection<VolumeGroup> groups() {
        return groups.values();
    }

    public Collection<LogicalVolume> volumes() {
        return volumes.values();
    }

    public Optional<VolumeGroup> group(String name) {
        return Optional.ofNullable(groups.get(name));
    }

    public Optional<LogicalVolume> volume(String path) {
        return Optional.ofNullable(volumes.get(path));
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

    // ---- space accounting ----

    static long chunksPerExtent(long extentSize) {
        return extentSize / CHUNK_SIZE;
    }

    static long chunksOf(PhysicalVolume pv) {
        return pv.extents() * chunksPerExtent(pv.extentSize());
    }

    /** Chunks of this PV in use by layers or reservations. */
    public long usedChunks(String physicalVolume) {
        BitSet bits = used.get(physicalVolume);
        return bits == null ? 0 : bits.cardinality();
    }

    /** Extents of this PV with any chunk in use. */
    public long usedExtents(PhysicalVolume pv) {
        BitSet bits = used.get(pv.id());
        if (bits == null) {
            return 0;
        }
        long perExtent = chunksPerExtent(pv.extentSize());
        long count = 0;
        for (long e = 0; e < pv.extents(); e++) {
            int from = Math.toIntExact(e * perExtent);
            int next = bits.nextSetBit(from);
            if (next >= 0 && next < from + perExtent) {
                count++;
            }
        }
        return count;
    }

    public long freeChunks(VolumeGroup group, Storage storage) {
        return group.physicalVolumes().stream()
            .mapToLong(id -> chunksOf(storage.requirePhysicalVolume(id)) - usedChunks(id)).sum();
    }

    public long totalChunks(VolumeGroup group, Storage storage) {
        return group.physicalVolumes().stream().mapToLong(id -> chunksOf(storage.requirePhysicalVolume(id))).sum();
    }

    /** Free bytes of the group. */
    public long freeBytes(VolumeGroup group, Storage storage) {
        return freeChunks(group, storage) * CHUNK_SIZE;
    }

    public long totalBytes(VolumeGroup group, Storage storage) {
        return totalChunks(group, storage) * CHUNK_SIZE;
    }

    /** Whether any volume group holds this physical volume. */
    public Optional<VolumeGroup> groupOf(String physicalVolume) {
        return groups.values().stream().filter(g -> g.physicalVolumes().contains(physicalVolume)).findFirst();
    }

    // ---- groups ----

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
            if (usedChunks(id) > 0) {
                throw Rejection.conflict("physical volume " + reference + " holds " + usedChunks(id)
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

    // ---- volumes ----

    public LogicalVolume createVolume(CreateLogicalVolume command, Storage storage, Membership membership, long index) {
        VolumeGroup group = requireGroup(command.volumeGroup());
        Names.requireName("logical volume", command.name());
        String path = command.volumeGroup() + "/" + command.name();
        if (volumes.containsKey(path)) {
            throw Rejection.conflict("logical volume '" + path + "' exists already");
        }
        if (command.preferNode() != null) {
            membership.requireNode(command.preferNode());
        }
        long size = sizeFor(command.size(), group);
        long chunks = size / CHUNK_SIZE;
        List<ChunkRef> taken = command.thin() ? List.of()
            : allocate(group, chunks, chunks, command.preferNode(), storage, membership);
        var layer = newLayer(null, path);
        if (!command.thin()) {
            pools.put(path, new ArrayList<>(taken));
        }
        mark(taken, true);
        var volume = new LogicalVolume(group.name(), command.name(), size, command.thin(), layer.id, 0, List.of(), null,
            false, index);
        volumes.put(path, volume);
        return volume;
    }

    public LogicalVolume extendVolume(ExtendLogicalVolume command, Storage storage, Membership membership) {
        LogicalVolume volume = requireVolume(command.volumeGroup(), command.name());
        VolumeGroup group = requireGroup(volume.volumeGroup());
        long size = sizeFor(command.newSize(), group);
        if (size <= volume.size()) {
            throw Rejection.invalid(volume.path() + " is " + (volume.size() >> 20) + " MiB (" + volume.size()
                + " bytes) already; give a larger size, or '+SIZE' to add to it (shrinking is not supported)");
        }
        if (volume.readOnly()) {
            throw Rejection.conflict(volume.path() + " is a read-only snapshot");
        }
        if (volume.attached()) {
            throw Rejection.conflict(volume.path() + " is attached on " + nodes(volume) + "; detach it to extend it");
        }
        if (!volume.thin()) {
            long count = size / CHUNK_SIZE - volume.chunks();
            List<String> where = physicalVolumes(volume);
            String preferNode = where.isEmpty() ? null : storage.requirePhysicalVolume(where.getFirst()).node();
            List<ChunkRef> taken = allocate(group, count, count, preferNode, storage, membership);
            pools.computeIfAbsent(volume.path(), p -> new ArrayList<>()).addAll(taken);
            mark(taken, true);
        }
        LogicalVolume extended = volume.withSize(size);
        volumes.put(extended.path(), extended);
        return extended;
    }

    public LogicalVolume renameVolume(String group, String name, String newName) {
        LogicalVolume volume = requireVolume(group, name);
        Names.requireName("logical volume", newName);
        if (volumes.containsKey(group + "/" + newName)) {
            throw Rejection.conflict("logical volume '" + group + "/" + newName + "' exists already");
        }
        if (volume.attached()) {
            throw Rejection.conflict(volume.path() + " is attached on " + nodes(volume) + "; detach it to rename it");
        }
        volumes.remove(volume.path());
        LogicalVolume renamed = volume.withName(newName);
        volumes.put(renamed.path(), renamed);
        layers.get(renamed.layer()).top = renamed.path();
        List<ChunkRef> pool = pools.remove(volume.path());
        if (pool != null) {
            pools.put(renamed.path(), pool);
        }
        for (LogicalVolume other : List.copyOf(volumes.values())) {
            if (volume.path().equals(other.origin())) {
                volumes.put(other.path(), new LogicalVolume(other.volumeGroup(), other.name(), other.size(), other.thin(),
                    other.layer(), other.epoch(), other.attachments(), renamed.path(), other.readOnly(), other.createdAt()));
            }
        }
        return renamed;
    }

    public LogicalVolume removeVolume(String group, String name) {
        LogicalVolume volume = requireVolume(group, name);
        if (volume.attached()) {
            throw Rejection.conflict(volume.path() + " is attached on " + nodes(volume) + "; detach it first ('nines lv detach "
                + volume.path() + "')");
        }
        volumes.remove(volume.path());
        List<ChunkRef> pool = pools.remove(volume.path());
        if (pool != null) {
            mark(pool, false);
        }
        Layer top = layers.get(volume.layer());
        top.top = null;
        release(top);
        return volume;
    }

    public LogicalVolume snapshotVolume(SnapshotLogicalVolume command, long index) {
        LogicalVolume origin = requireVolume(command.volumeGroup(), command.name());
        Names.requireName("logical volume", command.snapshot());
        String path = origin.volumeGroup() + "/" + command.snapshot();
        if (volumes.containsKey(path)) {
            throw Rejection.conflict("logical volume '" + path + "' exists already");
        }
        if (origin.attached()) {
            if (origin.attachments().size() > 1) {
                throw Rejection.conflict(origin.path() + " is attached on " + nodes(origin)
                    + "; a snapshot needs one writer (wait for the migration to end)");
            }
            if (command.epoch() != origin.epoch()) {
                throw Rejection.conflict(origin.path() + " is attached on " + nodes(origin)
                    + "; its snapshot is taken by that node (epoch " + origin.epoch() + ", not " + command.epoch() + ")");
            }
        }
        Layer top = layers.get(origin.layer());
        if (depth(top) >= MAX_CHAIN) {
            throw Rejection.conflict(origin.path() + " is " + MAX_CHAIN + " snapshots deep; copy it to a new volume"
                + " ('nines lv export' then 'nines lv import') instead");
        }
        Layer snapshotTop;
        if (top.chunks.isEmpty()) {
            // nothing written since the last snapshot: the snapshot shares the parent directly
            snapshotTop = newLayer(top.parent, path);
            if (top.parent != null) {
                layers.get(top.parent).children.add(snapshotTop.id);
            }
        } else {
            top.top = null;
            Layer originTop = newLayer(top.id, origin.path());
            snapshotTop = newLayer(top.id, path);
            top.children.add(originTop.id);
            top.children.add(snapshotTop.id);
            volumes.put(origin.path(), origin.withLayer(originTop.id));
        }
        var snapshot = new LogicalVolume(origin.volumeGroup(), command.snapshot(), origin.size(), true, snapshotTop.id, 0,
            List.of(), origin.path(), !command.writable(), index);
        volumes.put(path, snapshot);
        return snapshot;
    }

    // ---- attachments ----

    public LogicalVolume attach(AttachLogicalVolume command, Membership membership, long index) {
        LogicalVolume volume = requireVolume(command.volumeGroup(), command.name());
        var node = membership.requireNode(command.node());
        if (node.state() == NodeState.DOWN) {
            throw Rejection.conflict("node '" + node.name() + "' is down; attach " + volume.path() + " on a node that is up");
        }
        if (command.nbdAddress() != null) {
            Names.requireAddress("NBD address", command.nbdAddress());
        }
        if (command.nbdSocket() != null && !command.nbdSocket().startsWith("/")) {
            throw Rejection.invalid("NBD socket '" + command.nbdSocket() + "' must be an absolute path");
        }
        var fresh = new Attachment(command.node(), command.shared(), index, List.of(), command.nbdAddress(), command.nbdSocket());
        Optional<Attachment> mine = volume.attachment(command.node());
        List<Attachment> others = volume.attachments().stream().filter(a -> !a.node().equals(command.node())).toList();
        if (mine.isPresent() && mine.get().shared() == command.shared() && (command.shared() || others.isEmpty())) {
            return volume;
        }
        if (command.force()) {
            var kept = mine.map(a -> a.withShared(command.shared())).orElse(fresh);
            others.forEach(a -> giveBack(volume, a.reserved()));
            LogicalVolume taken = volume.withAttachments(volume.epoch() + 1, List.of(kept));
            volumes.put(taken.path(), taken);
            return taken;
        }
        if (!others.isEmpty() && !command.shared()) {
            throw Rejection.conflict(volume.path() + " is attached on " + others.stream().map(Attachment::node).toList()
                + "; detach it there first, or attach with --shared (both nodes may then write)");
        }
        var all = new ArrayList<Attachment>();
        others.forEach(a -> all.add(command.shared() ? a.withShared(true) : a));
        all.add(mine.map(a -> a.withShared(command.shared())).orElse(fresh));
        // a new writer beside existing ones joins their epoch; a new sole writer starts one
        long epoch = others.isEmpty() && mine.isEmpty() ? volume.epoch() + 1 : volume.epoch();
        LogicalVolume attached = volume.withAttachments(epoch, all);
        volumes.put(attached.path(), attached);
        return attached;
    }

    public LogicalVolume detach(DetachLogicalVolume command) {
        LogicalVolume volume = requireVolume(command.volumeGroup(), command.name());
        if (command.node() != null && volume.attachment(command.node()).isEmpty()) {
            throw Rejection.conflict(volume.path() + " is not attached on '" + command.node() + "'"
                + (volume.attached() ? " (it is on " + nodes(volume) + ")" : ""));
        }
        if (!volume.attached()) {
            throw Rejection.conflict(volume.path() + " is not attached");
        }
        var kept = new ArrayList<Attachment>();
        for (Attachment a : volume.attachments()) {
            if (command.node() == null || a.node().equals(command.node())) {
                giveBack(volume, a.reserved());
            } else {
                kept.add(a);
            }
        }
        LogicalVolume detached = volume.withAttachments(volume.epoch() + 1, kept);
        volumes.put(detached.path(), detached);
        return detached;
    }

    /** Ends every attachment on a node that left the cluster. */
    public void detachAll(String node) {
        for (LogicalVolume volume : List.copyOf(volumes.values())) {
            if (volume.attachment(node).isPresent()) {
                detach(new DetachLogicalVolume(volume.volumeGroup(), volume.name(), node));
            }
        }
    }

    public List<ChunkRef> reserve(ReserveChunks command, Storage storage, Membership membership) {
        LogicalVolume volume = requireVolume(command.volumeGroup(), command.name());
        Attachment attachment = requireWriter(volume, command.node(), command.epoch());
        if (command.count() < 1 || command.count() > 4096) {
            throw Rejection.invalid("reserve 1 to 4096 chunks, not " + command.count());
        }
        VolumeGroup group = requireGroup(volume.volumeGroup());
        List<ChunkRef> pool = pools.getOrDefault(volume.path(), List.of());
        List<ChunkRef> taken;
        if (!pool.isEmpty()) {
            // a thick volume's own chunks first, the nearest to the writer first
            var mine = new ArrayList<ChunkRef>();
            var rest = new ArrayList<ChunkRef>();
            for (ChunkRef chunk : pool) {
                (storage.requirePhysicalVolume(chunk.physicalVolume()).node().equals(command.node()) ? mine : rest).add(chunk);
            }
            mine.addAll(rest);
            taken = List.copyOf(mine.subList(0, Math.min(command.count(), mine.size())));
            var left = new ArrayList<>(pool);
            left.removeAll(new HashSet<>(taken));
            if (left.isEmpty()) {
                pools.remove(volume.path());
            } else {
                pools.put(volume.path(), left);
            }
        } else {
            taken = allocate(group, command.count(), 1, command.node(), storage, membership);
            mark(taken, true);
        }
        var reserved = new ArrayList<>(attachment.reserved());
        reserved.addAll(taken);
        replaceAttachment(volume, attachment.withReserved(reserved));
        return taken;
    }

    public int commit(CommitChunks command) {
        LogicalVolume volume = requireVolume(command.volumeGroup(), command.name());
        Attachment attachment = requireWriter(volume, command.node(), command.epoch());
        var reserved = new LinkedHashSet<>(attachment.reserved());
        var seen = new HashSet<Long>();
        for (ChunkMapping mapping : command.mappings()) {
            if (mapping.virtualChunk() < 0 || mapping.virtualChunk() >= volume.chunks()) {
                throw Rejection.invalid("chunk " + mapping.virtualChunk() + " is outside " + volume.path() + " ("
                    + volume.chunks() + " chunks)");
            }
            if (!reserved.contains(mapping.chunk())) {
                throw Rejection.invalid("chunk " + mapping.chunk() + " was not reserved for " + volume.path() + " on "
                    + command.node());
            }
            if (!seen.add(mapping.virtualChunk())) {
                throw Rejection.invalid("chunk " + mapping.virtualChunk() + " of " + volume.path() + " is mapped twice");
            }
        }
        Layer top = layers.get(volume.layer());
        for (ChunkMapping mapping : command.mappings()) {
            reserved.remove(mapping.chunk());
            ChunkRef previous = top.chunks.put(mapping.virtualChunk(), mapping.chunk());
            if (previous != null && !previous.equals(mapping.chunk())) {
                mark(List.of(previous), false);
            }
            releaseHidden(top, mapping.virtualChunk());
        }
        replaceAttachment(volume, attachment.withReserved(List.copyOf(reserved)));
        return command.mappings().size();
    }

    /** Chunks reserved and not written go back to a thick volume's pool (as far as it needs them), else to the group. */
    private void giveBack(LogicalVolume volume, List<ChunkRef> chunks) {
        if (chunks.isEmpty()) {
            return;
        }
        long need = volume.thin() ? 0 : Math.max(0, volume.chunks() - view(volume.path()).chunks().size()
            - pools.getOrDefault(volume.path(), List.of()).size());
        var pool = new ArrayList<>(pools.getOrDefault(volume.path(), List.of()));
        for (ChunkRef chunk : chunks) {
            if (need > 0) {
                pool.add(chunk);
                need--;
            } else {
                mark(List.of(chunk), false);
            }
        }
        if (!pool.isEmpty()) {
            pools.put(volume.path(), pool);
        }
    }

    /** Chunks a thick volume holds for writes it has not made yet. */
    public long pooledChunks(LogicalVolume volume) {
        return pools.getOrDefault(volume.path(), List.of()).size();
    }

    private Attachment requireWriter(LogicalVolume volume, String node, long epoch) {
        Attachment attachment = volume.attachment(node).orElseThrow(() -> Rejection.staleEpoch(
            volume.path() + " is not attached on '" + node + "'"));
        if (epoch != volume.epoch()) {
            throw Rejection.staleEpoch(volume.path() + " has epoch " + volume.epoch() + "; a writer with epoch " + epoch
                + " is cut off");
        }
        if (volume.readOnly()) {
            throw Rejection.conflict(volume.path() + " is a read-only snapshot");
        }
        return attachment;
    }

    private void replaceAttachment(LogicalVolume volume, Attachment replacement) {
        var all = volume.attachments().stream().map(a -> a.node().equals(replacement.node()) ? replacement : a).toList();
        volumes.put(volume.path(), volume.withAttachments(volume.epoch(), all));
    }

    // ---- reading the maps ----

    /** Where every chunk of the volume is, as its engine serves it. */
    public VolumeView view(String path) {
        LogicalVolume volume = volumes.get(path);
        if (volume == null) {
            throw Rejection.notFound("no logical volume '" + path + "'; 'nines lv list' shows them");
        }
        var chunks = new HashMap<Long, VolumeView.Located>();
        boolean own = true;
        for (Layer layer = layers.get(volume.layer()); layer != null; layer = layer.parent == null ? null : layers.get(layer.parent)) {
            for (var entry : layer.chunks.entrySet()) {
                if (entry.getKey() < volume.chunks()) {
                    chunks.putIfAbsent(entry.getKey(), new VolumeView.Located(entry.getValue(), own));
                }
            }
            own = false;
        }
        return new VolumeView(path, volume.size(), volume.epoch(), volume.readOnly(), volume.attachments(), Map.copyOf(chunks));
    }

    /** Chunks the volume can see data in (its own and shared ones). */
    public long mappedChunks(LogicalVolume volume) {
        var seen = new HashSet<Long>();
        for (Layer layer = layers.get(volume.layer()); layer != null; layer = layer.parent == null ? null : layers.get(layer.parent)) {
            layer.chunks.keySet().stream().filter(c -> c < volume.chunks()).forEach(seen::add);
        }
        return seen.size();
    }

    /** Chunks only this volume uses (freed when it is removed, if nothing else shares its layers). */
    public long ownChunks(LogicalVolume volume) {
        return layers.get(volume.layer()).chunks.size();
    }

    /** The physical volumes holding any chunk the volume can see. */
    public List<String> physicalVolumes(LogicalVolume volume) {
        var ids = new TreeSet<String>();
        for (Layer layer = layers.get(volume.layer()); layer != null; layer = layer.parent == null ? null : layers.get(layer.parent)) {
            layer.chunks.values().forEach(c -> ids.add(c.physicalVolume()));
        }
        volume.attachments().forEach(a -> a.reserved().forEach(c -> ids.add(c.physicalVolume())));
        pools.getOrDefault(volume.path(), List.of()).forEach(c -> ids.add(c.physicalVolume()));
        return List.copyOf(ids);
    }

    /** Chunks per physical volume that the volume can see. */
    public Map<String, Long> chunksByPhysicalVolume(LogicalVolume volume) {
        var counts = new TreeMap<String, Long>();
        view(volume.path()).chunks().values().forEach(l -> counts.merge(l.chunk().physicalVolume(), 1L, Long::sum));
        pools.getOrDefault(volume.path(), List.of()).forEach(c -> counts.merge(c.physicalVolume(), 1L, Long::sum));
        return counts;
    }

    // ---- internals ----

    private Layer newLayer(Long parent, String top) {
        var layer = new Layer(nextLayer++, parent, top);
        layers.put(layer.id, layer);
        return layer;
    }

    private int depth(Layer layer) {
        int depth = 0;
        for (Layer l = layer; l != null; l = l.parent == null ? null : layers.get(l.parent)) {
            depth++;
        }
        return depth;
    }

    /**
     * A copy of chunk {@code chunk} was just committed below some frozen layers: an ancestor's copy
     * that no volume can see any more (every branch under it has its own) is freed.
     */
    private void releaseHidden(Layer from, long chunk) {
        for (Layer layer = from.parent == null ? null : layers.get(from.parent); layer != null;
             layer = layer.parent == null ? null : layers.get(layer.parent)) {
            ChunkRef held = layer.chunks.get(chunk);
            if (held != null && hiddenBelow(layer, chunk)) {
                layer.chunks.remove(chunk);
                mark(List.of(held), false);
            }
        }
    }

    /** Whether every volume descending from {@code layer} has its own copy of {@code chunk}. */
    private boolean hiddenBelow(Layer layer, long chunk) {
        if (layer.top != null) {
            return false;
        }
        for (long id : layer.children) {
            Layer child = layers.get(id);
            if (!child.chunks.containsKey(chunk) && !hiddenBelow(child, chunk)) {
                return false;
            }
        }
        return true;
    }

    /** A layer lost a reference (its volume, or a child): free it when none is left, merge it when one child is. */
    private void release(Layer layer) {
        if (layer.top != null) {
            return;
        }
        if (layer.children.isEmpty()) {
            mark(layer.chunks.values(), false);
            layers.remove(layer.id);
            if (layer.parent != null) {
                Layer parent = layers.get(layer.parent);
                parent.children.remove(layer.id);
                release(parent);
            }
        } else if (layer.children.size() == 1) {
            Layer child = layers.get(layer.children.iterator().next());
            for (var entry : layer.chunks.entrySet()) {
                if (child.chunks.containsKey(entry.getKey())) {
                    mark(List.of(entry.getValue()), false);
                } else {
                    child.chunks.put(entry.getKey(), entry.getValue());
                }
            }
            child.parent = layer.parent;
            layers.remove(layer.id);
            if (layer.parent != null) {
                Layer parent = layers.get(layer.parent);
                parent.children.remove(layer.id);
                parent.children.add(child.id);
            }
        }
    }

    private static long sizeFor(long size, VolumeGroup group) {
        if (size <= 0) {
            throw Rejection.invalid("size must be positive, not " + size);
        }
        long extents = (size + group.extentSize() - 1) / group.extentSize();
        if (extents > Integer.MAX_VALUE / chunksPerExtent(group.extentSize())) {
            throw Rejection.invalid("size " + size + " is beyond what a volume can hold");
        }
        return extents * group.extentSize();
    }

    /**
     * Picks up to {@code count} free chunks (at least {@code atLeast}), on the preferred node's
     * PVs first; takes nothing unless it finds enough.
     */
    private List<ChunkRef> allocate(VolumeGroup group, long count, long atLeast, String preferNode, Storage storage,
                                    Membership membership) {
        var order = new ArrayList<PhysicalVolume>();
        var others = new ArrayList<PhysicalVolume>();
        long down = 0;
        for (String id : group.physicalVolumes()) {
            PhysicalVolume pv = storage.requirePhysicalVolume(id);
            boolean nodeUp = membership.node(pv.node()).map(n -> n.state() == NodeState.UP).orElse(false);
            if (!nodeUp) {
                down += chunksOf(pv) - usedChunks(id);
                continue;
            }
            (pv.node().equals(preferNode) ? order : others).add(pv);
        }
        order.addAll(others);
        var taken = new ArrayList<ChunkRef>();
        for (PhysicalVolume pv : order) {
            BitSet bits = used.getOrDefault(pv.id(), new BitSet());
            long chunks = chunksOf(pv);
            for (int i = bits.nextClearBit(0); i < chunks && taken.size() < count; i = bits.nextClearBit(i + 1)) {
                taken.add(new ChunkRef(pv.id(), i));
            }
            if (taken.size() == count) {
                return taken;
            }
        }
        if (taken.size() >= atLeast) {
            return taken;
        }
        long mib = CHUNK_SIZE >> 20;
        throw Rejection.noSpace("volume group '" + group.name() + "' has " + taken.size() * mib + " MiB free on nodes that are up"
            + (down > 0 ? " (and " + down * mib + " MiB on nodes that are down)" : "") + "; " + atLeast * mib
            + " MiB are needed. Add space with 'nines vg extend' or free some with 'nines lv remove'");
    }

    private void mark(Collection<ChunkRef> chunks, boolean inUse) {
        for (ChunkRef chunk : chunks) {
            BitSet bits = used.computeIfAbsent(chunk.physicalVolume(), id -> new BitSet());
            bits.set(Math.toIntExact(chunk.chunk()), inUse);
        }
    }

    private static String nodes(LogicalVolume volume) {
        return String.join(", ", volume.attachments().stream().map(Attachment::node).toList());
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

    // ---- snapshots of the state ----

    public Snapshot snapshot() {
        var runs = new ArrayList<LayerSnapshot>();
        for (Layer layer : layers.values()) {
            runs.add(new LayerSnapshot(layer.id, layer.parent, layer.top, List.copyOf(layer.children), runs(layer.chunks)));
        }
        var pooled = new TreeMap<String, List<ChunkRun>>();
        pools.forEach((path, chunks) -> {
            var byIndex = new TreeMap<Long, ChunkRef>();
            for (int i = 0; i < chunks.size(); i++) {
                byIndex.put((long) i, chunks.get(i));
            }
            pooled.put(path, runs(byIndex));
        });
        return new Snapshot(List.copyOf(groups.values()), List.copyOf(volumes.values()), runs, pooled, nextLayer);
    }

    public void restore(Snapshot snapshot) {
        groups.clear();
        volumes.clear();
        layers.clear();
        pools.clear();
        used.clear();
        nextLayer = 1;
        if (snapshot == null) {
            return;
        }
        snapshot.groups().forEach(g -> groups.put(g.name(), g));
        snapshot.volumes().forEach(v -> {
            volumes.put(v.path(), v);
            v.attachments().forEach(a -> mark(a.reserved(), true));
        });
        for (LayerSnapshot s : snapshot.layers() == null ? List.<LayerSnapshot>of() : snapshot.layers()) {
            var layer = new Layer(s.id(), s.parent(), s.top());
            layer.children.addAll(s.children());
            for (ChunkRun run : s.runs()) {
                for (long i = 0; i < run.count(); i++) {
                    layer.chunks.put(run.virtualChunk() + i, new ChunkRef(run.physicalVolume(), run.chunk() + i));
                }
            }
            layers.put(layer.id, layer);
            mark(layer.chunks.values(), true);
        }
        if (snapshot.pools() != null) {
            snapshot.pools().forEach((path, runs) -> {
                var chunks = new ArrayList<ChunkRef>();
                for (ChunkRun run : runs) {
                    for (long i = 0; i < run.count(); i++) {
                        chunks.add(new ChunkRef(run.physicalVolume(), run.chunk() + i));
                    }
                }
                pools.put(path, chunks);
                mark(chunks, true);
            });
        }
        nextLayer = snapshot.nextLayer();
    }

    private static List<ChunkRun> runs(TreeMap<Long, ChunkRef> chunks) {
        var runs = new ArrayList<ChunkRun>();
        ChunkRun current = null;
        for (var entry : chunks.entrySet()) {
            long v = entry.getKey();
            ChunkRef c = entry.getValue();
            if (current != null && current.virtualChunk() + current.count() == v
                && current.physicalVolume().equals(c.physicalVolume()) && current.chunk() + current.count() == c.chunk()) {
                current = new ChunkRun(current.virtualChunk(), current.physicalVolume(), current.chunk(), current.count() + 1);
                runs.set(runs.size() - 1, current);
            } else {
                current = new ChunkRun(v, c.physicalVolume(), c.chunk(), 1);
                runs.add(current);
            }
        }
        return runs;
    }

    /** Consecutive chunks of a volume held by consecutive chunks of one physical volume. */
    public record ChunkRun(long virtualChunk, String physicalVolume, long chunk, long count) {
    }

    /** The serialisable form of a layer. */
    public record LayerSnapshot(long id, Long parent, String top, List<Long> children, List<ChunkRun> runs) {
    }

    /** The serialisable form of this part of the state. */
    public record Snapshot(List<VolumeGroup> groups, List<LogicalVolume> volumes, List<LayerSnapshot> layers,
                           Map<String, List<ChunkRun>> pools, long nextLayer) {
    }
}
