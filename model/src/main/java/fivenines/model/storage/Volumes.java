package fivenines.model.storage;

import fivenines.model.cluster.Membership;
import fivenines.model.command.AddLeg;
import fivenines.model.command.AttachLogicalVolume;
import fivenines.model.command.CommitChunks;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.DetachLogicalVolume;
import fivenines.model.command.DropLeg;
import fivenines.model.command.MarkRegions;
import fivenines.model.command.RemoveLeg;
import fivenines.model.command.RepairedRegions;
import fivenines.model.command.ResyncLeg;
import fivenines.model.command.StartResync;
import fivenines.model.command.ExtendLogicalVolume;
import fivenines.model.command.ReserveChunks;
import fivenines.model.command.SnapshotLogicalVolume;
import fivenines.model.state.Names;
import fivenines.model.state.Rejection;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Volume groups and logical volumes, and which chunks of which physical volumes they use.
 *
 * <p>The parts: {@link VolumeGroups} (groups and their PVs), {@link LayerTree} (the layers a
 * volume finds its chunks through; constant-time snapshots, copy on write, exact freeing),
 * {@link ChunkAllocator} (used chunks per PV as ranges; free chunks for new space, all or
 * nothing), {@link ChunkPool} (a thick volume's chunks not yet written) and
 * {@link VolumeAttachments} (attachments, epochs, reservations and commits) and
 * {@link VolumeMaps} (what each volume sees, and the counts listings show). Mappings are runs
 * ({@link ChunkRuns}) and space is ranges, so the size of this state follows how fragmented the
 * volumes are, not how large: a 1 TiB thick volume written in order is a few runs.
 *
 * <p>A thick volume takes all its chunks at creation into a pool of its own, and maps them
 * on first write like a thin one, so that a new volume reads as zeroes whatever its chunks held
 * before. Every change validates first: a rejected command changes nothing.
 */
public final class Volumes {
    /** Unit of copy-on-write and of thin allocation. */
    public static final long CHUNK_SIZE = 1L << 20;
    /** Chunks a volume's chain may not exceed; snapshots deeper than this are refused. */
    public static final int MAX_CHAIN = 64;
    /** Largest volume: 1 EiB (2^40 chunks), far beyond any group, small enough that no chunk count overflows. */
    public static final long MAX_VOLUME_BYTES = 1L << 60;
    /**
     * The form of {@link Snapshot} written now: 2 holds pools as ranges of PV chunks. Form 0 (no
     * {@code format} field, before runs) held pools as runs numbered by position in the pool; it is
     * read as well, since its runs carry the same PV ranges in the same order.
     */
    public static final int SNAPSHOT_FORMAT = 3;

    private final Storage storage;
    private final VolumeGroups groups = new VolumeGroups();
    private final TreeMap<String, LogicalVolume> volumes = new TreeMap<>();
    private final ChunkAllocator allocator = new ChunkAllocator();
    private final LayerTree layers = new LayerTree(allocator);
    private final Map<String, ChunkPool> pools = new HashMap<>();
    private final VolumeAttachments attachments = new VolumeAttachments(this);
    private final VolumeMaps maps = new VolumeMaps(this);
    private final Mirrors mirrors = new Mirrors(this);

    /** @param storage the physical volumes, read to tell which leg a chunk belongs to */
    public Volumes(Storage storage) {
        this.storage = storage;
    }

    /** Key of leg {@code leg}'s pool: the volume's path for the first leg (as before legs), {@code PATH#LEG} for others. */
    static String poolKey(String path, int leg) {
        return leg == 0 ? path : path + "#" + leg;
    }

    public Collection<VolumeGroup> groups() {
        return groups.all();
    }

    public Collection<LogicalVolume> volumes() {
        return volumes.values();
    }

    public Optional<VolumeGroup> group(String name) {
        return groups.get(name);
    }

    public Optional<LogicalVolume> volume(String path) {
        return Optional.ofNullable(volumes.get(path));
    }

    public VolumeGroup requireGroup(String name) {
        return groups.require(name);
    }

    public LogicalVolume requireVolume(String group, String name) {
        LogicalVolume volume = volumes.get(group + "/" + name);
        if (volume == null) {
            throw Rejection.notFound("no logical volume '" + group + "/" + name + "'; 'nines lv list' shows them");
        }
        return volume;
    }

    // ---- space accounting ----

    /** Chunks of this PV in use by layers, pools or reservations. */
    public long usedChunks(String physicalVolume) {
        return allocator.usedChunks(physicalVolume);
    }

    /** Extents of this PV with any chunk in use. */
    public long usedExtents(PhysicalVolume pv) {
        return allocator.usedExtents(pv);
    }

    /** Ranges the used chunks of this PV form (1 for a PV filled in order). */
    public int usedRanges(String physicalVolume) {
        return allocator.usedRangeCount(physicalVolume);
    }

    public long freeChunks(VolumeGroup group, Storage storage) {
        return group.physicalVolumes().stream()
            .mapToLong(id -> ChunkAllocator.chunksOf(storage.requirePhysicalVolume(id)) - usedChunks(id)).sum();
    }

    public long totalChunks(VolumeGroup group, Storage storage) {
        return group.physicalVolumes().stream().mapToLong(id -> ChunkAllocator.chunksOf(storage.requirePhysicalVolume(id))).sum();
    }

    /** Free bytes of the group. */
    public long freeBytes(VolumeGroup group, Storage storage) {
        return freeChunks(group, storage) * CHUNK_SIZE;
    }

    public long totalBytes(VolumeGroup group, Storage storage) {
        return totalChunks(group, storage) * CHUNK_SIZE;
    }

    /** The volume group holding this physical volume, if any. */
    public Optional<VolumeGroup> groupOf(String physicalVolume) {
        return groups.groupOf(physicalVolume);
    }

    // ---- groups ----

    public VolumeGroup createGroup(CreateVolumeGroup command, Storage storage, long index) {
        return groups.create(command, storage, index);
    }

    public VolumeGroup extendGroup(String name, List<String> references, Storage storage) {
        return groups.extend(name, references, storage);
    }

    public VolumeGroup reduceGroup(String name, List<String> references, Storage storage) {
        return groups.reduce(name, references, storage, this::usedChunks);
    }

    public VolumeGroup removeGroup(String name) {
        groups.require(name);
        return groups.remove(name, volumes.values().stream().filter(v -> v.volumeGroup().equals(name))
            .map(LogicalVolume::path).toList());
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
        List<Leg> placed = mirrors.place(group, command.legs(), command.thin() ? 0 : chunks, command.preferNode(),
            command.allocAnywhere(), storage, membership);
        // every leg's space is found before any is taken: all or nothing
        var taken = new ArrayList<List<PhysicalRange>>();
        for (Leg leg : placed) {
            taken.add(command.thin() ? List.of() : allocator.find(group, chunks, chunks,
                leg.node() != null ? leg.node() : command.preferNode(), storage, membership, leg::allows, legWhere(leg)));
        }
        var legs = new ArrayList<Leg>();
        for (int i = 0; i < placed.size(); i++) {
            Leg leg = placed.get(i).withLayer(layers.newLayer(null, path).id);
            legs.add(leg);
            if (!command.thin()) {
                pools.put(poolKey(path, leg.index()), new ChunkPool(taken.get(i)));
            }
            allocator.take(taken.get(i));
        }
        var volume = new LogicalVolume(group.name(), command.name(), size, command.thin(), 0, List.of(), null, false, index,
            legs);
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
            String near = where.isEmpty() ? null : storage.requirePhysicalVolume(where.getFirst()).node();
            var taken = new ArrayList<List<PhysicalRange>>();
            for (Leg leg : volume.legs()) {
                taken.add(allocator.find(group, count, count, leg.node() != null ? leg.node() : near, storage, membership,
                    leg::allows, legWhere(leg)));
            }
            for (int i = 0; i < volume.legs().size(); i++) {
                ChunkPool pool = pools.computeIfAbsent(poolKey(volume.path(), volume.legs().get(i).index()),
                    p -> new ChunkPool(List.of()));
                taken.get(i).forEach(pool::append);
                allocator.take(taken.get(i));
            }
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
        maps.forget(volume.path());
        LogicalVolume renamed = volume.withName(newName);
        volumes.put(renamed.path(), renamed);
        for (Leg leg : renamed.legs()) {
            layers.get(leg.layer()).top = renamed.path();
            ChunkPool pool = pools.remove(poolKey(volume.path(), leg.index()));
            if (pool != null) {
                pools.put(poolKey(renamed.path(), leg.index()), pool);
            }
        }
        mirrors.rename(volume.path(), renamed.path());
        for (LogicalVolume other : List.copyOf(volumes.values())) {
            if (volume.path().equals(other.origin())) {
                volumes.put(other.path(), other.withOrigin(renamed.path()));
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
        maps.forget(volume.path());
        mirrors.forget(volume.path());
        volume.legs().forEach(leg -> dropLegData(volume, leg));
        return volume;
    }

    /** Frees a leg's pool and layers (the leg is leaving its volume, or the volume goes). */
    void dropLegData(LogicalVolume volume, Leg leg) {
        ChunkPool pool = pools.remove(poolKey(volume.path(), leg.index()));
        if (pool != null) {
            allocator.free(pool.ranges());
        }
        layers.drop(layers.get(leg.layer()));
        maps.forget(volume.path());
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
        for (Leg leg : origin.legs()) {
            if (layers.depth(layers.get(leg.layer())) >= MAX_CHAIN) {
                throw Rejection.conflict(origin.path() + " is " + MAX_CHAIN + " snapshots deep; copy it to a new volume"
                    + " ('nines lv export' then 'nines lv import') instead");
            }
        }
        // each leg is frozen alike: a copy-on-write then copies on every leg
        var originLegs = new ArrayList<Leg>();
        var snapshotLegs = new ArrayList<Leg>();
        for (Leg leg : origin.legs()) {
            LayerTree.Layer[] tops = layers.freeze(layers.get(leg.layer()), origin.path(), path);
            originLegs.add(leg.withLayer(tops[0].id));
            Leg copy = new Leg(leg.index(), tops[1].id, leg.node(), leg.physicalVolume(),
                leg.inSync() ? LegState.IN_SYNC : LegState.OUT, leg.since(), leg.reason(), null);
            snapshotLegs.add(copy);
        }
        volumes.put(origin.path(), origin.withLegs(originLegs));
        maps.forget(origin.path());
        mirrors.copyForSnapshot(origin.path(), path);
        var snapshot = new LogicalVolume(origin.volumeGroup(), command.snapshot(), origin.size(), true, 0, List.of(),
            origin.path(), !command.writable(), index, snapshotLegs);
        volumes.put(path, snapshot);
        return snapshot;
    }

    // ---- attachments ----

    public LogicalVolume attach(AttachLogicalVolume command, Membership membership, long index) {
        return attachments.attach(command, membership, index);
    }

    public LogicalVolume detach(DetachLogicalVolume command) {
        return attachments.detach(command);
    }

    // ---- legs ----

    public LogicalVolume dropLeg(DropLeg command) {
        return mirrors.drop(command);
    }

    public int markRegions(MarkRegions command) {
        return mirrors.mark(command);
    }

    public LogicalVolume startResync(StartResync command, Membership membership) {
        return mirrors.startResync(command, membership);
    }

    public LogicalVolume resyncLeg(ResyncLeg command) {
        return mirrors.resync(command);
    }

    public LogicalVolume repairedRegions(RepairedRegions command) {
        return mirrors.repaired(command);
    }

    public LogicalVolume addLeg(AddLeg command, Membership membership) {
        return mirrors.addLeg(command, storage, membership);
    }

    public LogicalVolume removeLeg(RemoveLeg command) {
        return mirrors.removeLeg(command);
    }

    /** A mirrored volume's legs and what each has left to copy. */
    public MirrorStatus mirrorStatus(LogicalVolume volume) {
        return mirrors.status(volume);
    }

    /** Chunks leg {@code leg} of the volume has left to copy (0 when in sync). */
    public long missedChunks(LogicalVolume volume, int leg) {
        return mirrors.missedChunks(volume.path(), leg);
    }

    /** Ends every attachment on a node that left the cluster. */
    public void detachAll(String node) {
        attachments.detachAll(node);
    }

    public List<ChunkRef> reserve(ReserveChunks command, Storage storage, Membership membership) {
        return attachments.reserve(command, storage, membership);
    }

    public int commit(CommitChunks command) {
        return attachments.commit(command);
    }

    /** Chunks a thick volume holds for writes it has not made yet (on all its legs). */
    public long pooledChunks(LogicalVolume volume) {
        long pooled = 0;
        for (Leg leg : volume.legs()) {
            pooled += pooledChunks(volume, leg.index());
        }
        return pooled;
    }

    long pooledChunks(LogicalVolume volume, int leg) {
        ChunkPool pool = pools.get(poolKey(volume.path(), leg));
        return pool == null ? 0 : pool.chunks();
    }

    // ---- reading the maps ----

    /** Where every chunk of the volume is on its first in-sync leg, as its engine serves it: runs, own ones marked. */
    public VolumeView view(String path) {
        LogicalVolume volume = volumes.get(path);
        if (volume == null) {
            throw Rejection.notFound("no logical volume '" + path + "'; 'nines lv list' shows them");
        }
        return maps.view(path, readLeg(volume).index());
    }

    /** Where every chunk of leg {@code leg} of the volume is. */
    public VolumeView view(String path, int leg) {
        return maps.view(path, leg);
    }

    /** The leg a listing reads the volume's counts from: the first in sync. */
    static Leg readLeg(LogicalVolume volume) {
        return volume.legs().stream().filter(Leg::inSync).findFirst().orElse(volume.legs().getFirst());
    }

    /** Chunks the volume can see data in (its own and shared ones), on its first in-sync leg. */
    public long mappedChunks(LogicalVolume volume) {
        return maps.mappedChunks(volume, readLeg(volume));
    }

    long mappedChunks(LogicalVolume volume, Leg leg) {
        return maps.mappedChunks(volume, leg);
    }

    /** Chunks only this volume uses (freed when it is removed, if nothing else shares its layers), on all its legs. */
    public long ownChunks(LogicalVolume volume) {
        return maps.ownChunks(volume);
    }

    /** The physical volumes holding any chunk the volume can see, reserves or holds in its pool. */
    public List<String> physicalVolumes(LogicalVolume volume) {
        return maps.physicalVolumes(volume);
    }

    /** Chunks per physical volume that the volume can see or holds in its pool. */
    public Map<String, Long> chunksByPhysicalVolume(LogicalVolume volume) {
        return maps.chunksByPhysicalVolume(volume);
    }

    /** Runs held by every layer (what the state's size follows). */
    public long runCount() {
        return layers.all().stream().mapToLong(l -> l.chunks.runCount()).sum();
    }

    // ---- for the parts ----

    void put(LogicalVolume volume) {
        volumes.put(volume.path(), volume);
    }

    ChunkPool pool(String key) {
        return pools.get(key);
    }

    Storage storage() {
        return storage;
    }

    Mirrors mirrors() {
        return mirrors;
    }

    VolumeMaps maps() {
        return maps;
    }

    static String legWhere(Leg leg) {
        return leg.node() == null ? "" : " for leg " + leg.index() + " on node '" + leg.node() + "'";
    }

    void setPool(String path, ChunkPool pool) {
        if (pool == null) {
            pools.remove(path);
        } else {
            pools.put(path, pool);
        }
    }

    ChunkAllocator allocator() {
        return allocator;
    }

    LayerTree layers() {
        return layers;
    }

    static String nodes(LogicalVolume volume) {
        return String.join(", ", volume.attachments().stream().map(Attachment::node).toList());
    }

    private static long sizeFor(long size, VolumeGroup group) {
        if (size <= 0) {
            throw Rejection.invalid("size must be positive, not " + size);
        }
        long extents = (size + group.extentSize() - 1) / group.extentSize();
        if (extents > MAX_VOLUME_BYTES / group.extentSize()) {
            throw Rejection.invalid("size " + size + " is beyond what a volume can hold");
        }
        return extents * group.extentSize();
    }

    // ---- snapshots of the state ----

    public Snapshot snapshot() {
        var pooled = new TreeMap<String, List<PhysicalRange>>();
        pools.forEach((path, pool) -> pooled.put(path, pool.ranges()));
        return new Snapshot(SNAPSHOT_FORMAT, List.copyOf(groups.all()), List.copyOf(volumes.values()), layers.snapshot(),
            pooled, layers.nextLayer(), mirrors.snapshot());
    }

    public void restore(Snapshot snapshot) {
        groups.clear();
        volumes.clear();
        maps.clear();
        layers.clear();
        pools.clear();
        allocator.clear();
        mirrors.clear();
        if (snapshot == null) {
            return;
        }
        int format = snapshot.format() == null ? 0 : snapshot.format();
        if (format > SNAPSHOT_FORMAT) {
            throw new IllegalArgumentException("the volumes in this store snapshot are in form " + format
                + ", written by a newer fivenines (this one reads up to form " + SNAPSHOT_FORMAT + "); start the newer"
                + " version on this node, or wipe its raft folder and join the cluster again");
        }
        groups.restore(snapshot.groups());
        var used = new java.util.ArrayList<PhysicalRange>();
        snapshot.volumes().forEach(v -> {
            volumes.put(v.path(), v);
            v.attachments().forEach(a -> a.reserved().forEach(c -> used.add(new PhysicalRange(c.physicalVolume(), c.chunk(), 1))));
        });
        layers.restore(snapshot.layers(), snapshot.nextLayer(), used);
        if (snapshot.pools() != null) {
            snapshot.pools().forEach((path, ranges) -> {
                if (ranges == null || ranges.isEmpty()) {
                    return; // a pool is dropped once empty: an empty one holds nothing to hand out
                }
                var pool = new ChunkPool(ranges);
                pools.put(path, pool);
                used.addAll(pool.ranges());
            });
        }
        allocator.takeAll(used);
        mirrors.restore(snapshot.mirrors());
    }

    /** The serialisable form of a layer. */
    public record LayerSnapshot(long id, Long parent, String top, List<Long> children, List<ChunkRun> runs) {
    }

    /**
     * The serialisable form of this part of the state.
     *
     * @param format {@link #SNAPSHOT_FORMAT} when written; null when read from a snapshot written before runs
     * @param pools   each thick volume leg's pool, as ranges in the order they are handed out (key {@link #poolKey})
     * @param mirrors per mirrored volume: what its legs missed, its writers' open regions, what to repair (form 3 on)
     */
    public record Snapshot(Integer format, List<VolumeGroup> groups, List<LogicalVolume> volumes, List<LayerSnapshot> layers,
                           Map<String, List<PhysicalRange>> pools, long nextLayer, Map<String, RegionsSnapshot> mirrors) {
    }

    /** The serialisable form of one mirrored volume's regions. */
    public record RegionsSnapshot(Map<Integer, List<ChunkSpan>> missed, Map<String, List<ChunkSpan>> active,
                                  List<ChunkSpan> repair) {
    }
}
