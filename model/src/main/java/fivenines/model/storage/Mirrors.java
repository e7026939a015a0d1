package fivenines.model.storage;

import fivenines.model.cluster.Membership;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.AddLeg;
import fivenines.model.command.DropLeg;
import fivenines.model.command.MarkRegions;
import fivenines.model.command.RemoveLeg;
import fivenines.model.command.RepairedRegions;
import fivenines.model.command.ResyncLeg;
import fivenines.model.command.StartResync;
import fivenines.model.state.Rejection;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The legs of mirrored volumes and what they are missing (DRBD's bitmap, LVM raid1's images):
 * where new legs go, each leg's state, and per volume the regions its writers have open (the
 * activity log), the chunks each out-of-set leg missed and the regions to make alike again after
 * a writer went away mid-write. A leg leaves the set only by a command of the volume's current
 * writer (or an operator's convert), and joins it only once it has nothing left to copy.
 */
final class Mirrors {
    /** Copies a volume may have (LVM allows more; three nodes' worth is what this is built for). */
    static final int MAX_LEGS = 3;

    private final Volumes volumes;
    private final Map<String, Regions> regions = new HashMap<>();

    Mirrors(Volumes volumes) {
        this.volumes = volumes;
    }

    /** What a mirrored volume's writers and legs have left to do. Never part of a plain volume. */
    static final class Regions {
        final TreeMap<Integer, ChunkSet> missed = new TreeMap<>();
        final TreeMap<String, ChunkSet> active = new TreeMap<>();
        final ChunkSet repair = new ChunkSet();

        ChunkSet missed(int leg) {
            return missed.computeIfAbsent(leg, l -> new ChunkSet());
        }

        Regions copy() {
            var copy = new Regions();
            missed.forEach((leg, set) -> copy.missed.put(leg, set.copy()));
            copy.repair.addAll(repair);
            return copy;
        }
    }

    Regions regions(String path) {
        return regions.get(path);
    }

    private Regions regionsFor(String path) {
        return regions.computeIfAbsent(path, p -> new Regions());
    }

    void forget(String path) {
        regions.remove(path);
    }

    void rename(String from, String to) {
        Regions moved = regions.remove(from);
        if (moved != null) {
            regions.put(to, moved);
        }
    }

    void clear() {
        regions.clear();
    }

    // ---- placement ----

    /**
     * Where the legs of a new volume go: one node each (the preferred one first, then those with
     * the most free space that are up), or with {@code anywhere} one PV each, possibly of one node.
     * Every leg needs {@code chunks} free where it goes; a clear error names what each node has.
     */
    List<Leg> place(VolumeGroup group, int legs, long chunks, String preferNode, boolean anywhere, Storage storage,
                    Membership membership) {
        if (legs < 1 || legs > MAX_LEGS) {
            throw Rejection.invalid("a volume has 1 to " + MAX_LEGS + " legs ('-m 0' to '-m " + (MAX_LEGS - 1)
                + "'), not " + legs);
        }
        if (legs == 1) {
            return List.of(Leg.single(-1));
        }
        var chosen = anywhere ? placeOnPvs(group, legs, chunks, preferNode, storage, membership)
            : placeOnNodes(group, legs, chunks, preferNode, storage, membership);
        var placed = new ArrayList<Leg>();
        for (int i = 0; i < chosen.size(); i++) {
            String[] where = chosen.get(i);
            placed.add(new Leg(i, -1, where[0], where[1], LegState.IN_SYNC, 0, null, null));
        }
        return placed;
    }

    private List<String[]> placeOnNodes(VolumeGroup group, int legs, long chunks, String preferNode, Storage storage,
                                        Membership membership) {
        Map<String, Long> free = freeByNode(group, storage);
        var usable = free.entrySet().stream()
            .filter(e -> nodeUp(membership, e.getKey()) && e.getValue() >= chunks)
            .sorted(Comparator.<Map.Entry<String, Long>, Boolean>comparing(e -> !e.getKey().equals(preferNode))
                .thenComparing(Map.Entry::getValue, Comparator.reverseOrder()).thenComparing(Map.Entry::getKey))
            .map(Map.Entry::getKey).limit(legs).toList();
        if (usable.size() < legs) {
            throw Rejection.noSpace(legs + " legs of " + chunks * (Volumes.CHUNK_SIZE >> 20) + " MiB need " + legs
                + " nodes that are up with that much free in volume group '" + group.name() + "'; it has "
                + describe(free, membership) + ". Add space on another node ('nines vg extend'), use fewer legs, or"
                + " '--alloc anywhere' to put legs on different PVs of one node");
        }
        return usable.stream().map(node -> new String[] {node, null}).toList();
    }

    private List<String[]> placeOnPvs(VolumeGroup group, int legs, long chunks, String preferNode, Storage storage,
                                      Membership membership) {
        var pvs = new ArrayList<PhysicalVolume>();
        for (String id : group.physicalVolumes()) {
            PhysicalVolume pv = storage.requirePhysicalVolume(id);
            if (nodeUp(membership, pv.node()) && volumes.allocator().freeChunks(pv) >= chunks) {
                pvs.add(pv);
            }
        }
        // different nodes before different PVs of one node, the preferred node first
        var byNode = new TreeMap<String, List<PhysicalVolume>>();
        pvs.forEach(pv -> byNode.computeIfAbsent(pv.node(), n -> new ArrayList<>()).add(pv));
        var chosen = new ArrayList<String[]>();
        var order = new ArrayList<>(byNode.keySet());
        order.sort(Comparator.comparing(n -> !n.equals(preferNode)));
        for (int round = 0; chosen.size() < legs; round++) {
            boolean any = false;
            for (String node : order) {
                List<PhysicalVolume> list = byNode.get(node);
                if (round < list.size() && chosen.size() < legs) {
                    chosen.add(new String[] {node, list.get(round).id()});
                    any = true;
                }
            }
            if (!any) {
                break;
            }
        }
        if (chosen.size() < legs) {
            throw Rejection.noSpace(legs + " legs of " + chunks * (Volumes.CHUNK_SIZE >> 20) + " MiB need " + legs
                + " PVs on nodes that are up with that much free each in volume group '" + group.name() + "'; "
                + pvs.size() + " have it. Add space ('nines vg extend') or use fewer legs");
        }
        return chosen;
    }

    private Map<String, Long> freeByNode(VolumeGroup group, Storage storage) {
        var free = new TreeMap<String, Long>();
        for (String id : group.physicalVolumes()) {
            PhysicalVolume pv = storage.requirePhysicalVolume(id);
            free.merge(pv.node(), volumes.allocator().freeChunks(pv), Long::sum);
        }
        return free;
    }

    private static String describe(Map<String, Long> free, Membership membership) {
        var parts = new ArrayList<String>();
        free.forEach((node, chunks) -> parts.add(node + " " + chunks * (Volumes.CHUNK_SIZE >> 20) + " MiB free"
            + (nodeUp(membership, node) ? "" : " (down)")));
        return parts.isEmpty() ? "no PVs" : String.join(", ", parts);
    }

    private static boolean nodeUp(Membership membership, String node) {
        return membership.node(node).map(n -> n.state() == NodeState.UP).orElse(false);
    }

    // ---- the writer's commands ----

    LogicalVolume drop(DropLeg command) {
        LogicalVolume volume = volumes.requireVolume(command.volumeGroup(), command.name());
        requireWriter(volume, command.node(), command.epoch());
        Leg leg = requireLeg(volume, command.leg());
        if (leg.state() == LegState.OUT) {
            return volume;
        }
        if (leg.inSync() && volume.inSyncLegs().size() == 1) {
            throw Rejection.conflict("leg " + leg.index() + " is the last in-sync leg of " + volume.path()
                + "; it cannot leave the set (the volume would have no complete copy)");
        }
        for (ChunkSpan span : command.missed()) {
            requireWithin(volume, span, volume.chunks());
        }
        // the writer names the chunks it failed to write there; writes still in flight on it are recorded
        // by the writer next, or, if it dies first, are in its activity log (added when it goes: writerGone)
        ChunkSet missed = regionsFor(volume.path()).missed(leg.index());
        command.missed().forEach(missed::add);
        LogicalVolume dropped = volume.withLeg(leg.withState(LegState.OUT, command.at(), command.reason()))
            .withEpoch(volume.epoch() + 1);
        volumes.put(dropped);
        return dropped;
    }

    int mark(MarkRegions command) {
        LogicalVolume volume = volumes.requireVolume(command.volumeGroup(), command.name());
        requireWriter(volume, command.node(), command.epoch());
        long chunks = volume.chunks();
        for (var span : command.activate()) {
            requireWithin(volume, span, chunks);
        }
        for (var entry : command.missed().entrySet()) {
            Leg leg = requireLeg(volume, entry.getKey());
            if (leg.inSync()) {
                throw Rejection.invalid("leg " + leg.index() + " of " + volume.path() + " is in sync; it cannot miss writes");
            }
            entry.getValue().forEach(span -> requireWithin(volume, span, chunks));
        }
        Regions r = regionsFor(volume.path());
        ChunkSet active = r.active.computeIfAbsent(command.node(), n -> new ChunkSet());
        command.retire().forEach(active::remove);
        command.activate().forEach(active::add);
        if (active.isEmpty()) {
            r.active.remove(command.node());
        }
        command.missed().forEach((leg, spans) -> spans.forEach(r.missed(leg)::add));
        return command.activate().size();
    }

    LogicalVolume startResync(StartResync command, Membership membership) {
        LogicalVolume volume = volumes.requireVolume(command.volumeGroup(), command.name());
        requireWriter(volume, command.node(), command.epoch());
        Leg leg = requireLeg(volume, command.leg());
        if (leg.state() != LegState.OUT) {
            throw Rejection.conflict("leg " + leg.index() + " of " + volume.path() + " is " + leg.state().name().toLowerCase()
                + ", not out; only a leg out of the set starts a resync");
        }
        if (leg.node() != null && !nodeUp(membership, leg.node())) {
            throw Rejection.conflict("leg " + leg.index() + " of " + volume.path() + " is on node '" + leg.node()
                + "', which is down; it resyncs once the node is up");
        }
        LogicalVolume started = volume.withLeg(leg.withState(LegState.RESYNCING, command.at(), null));
        volumes.put(started);
        return started;
    }

    LogicalVolume resync(ResyncLeg command) {
        LogicalVolume volume = volumes.requireVolume(command.volumeGroup(), command.name());
        requireWriter(volume, command.node(), command.epoch());
        Leg leg = requireLeg(volume, command.leg());
        if (leg.state() != LegState.RESYNCING) {
            throw Rejection.conflict("leg " + leg.index() + " of " + volume.path() + " is not resyncing (it is "
                + leg.state().name().toLowerCase() + ")");
        }
        Regions r = regionsFor(volume.path());
        ChunkSet missed = r.missed(leg.index());
        command.done().forEach(missed::remove);
        if (!command.complete()) {
            return volume;
        }
        if (!missed.isEmpty()) {
            throw Rejection.conflict("leg " + leg.index() + " of " + volume.path() + " has " + missed.size()
                + " chunks left to copy; it joins the set once it has none");
        }
        r.missed.remove(leg.index());
        LogicalVolume joined = volume.withLeg(leg.withState(LegState.IN_SYNC, command.at(), null));
        if (leg.replaces() != null && joined.leg(leg.replaces()).isPresent()) {
            joined = withoutLeg(joined, joined.leg(leg.replaces()).get());
        }
        volumes.put(joined);
        return joined;
    }

    LogicalVolume repaired(RepairedRegions command) {
        LogicalVolume volume = volumes.requireVolume(command.volumeGroup(), command.name());
        requireWriter(volume, command.node(), command.epoch());
        Regions r = regions.get(volume.path());
        if (r != null) {
            command.done().forEach(r.repair::remove);
        }
        return volume;
    }

    // ---- converts ----

    LogicalVolume addLeg(AddLeg command, Storage storage, Membership membership) {
        LogicalVolume volume = volumes.requireVolume(command.volumeGroup(), command.name());
        VolumeGroup group = volumes.requireGroup(volume.volumeGroup());
        if (volume.readOnly()) {
            throw Rejection.conflict(volume.path() + " is a read-only snapshot; convert the volume it was taken from");
        }
        if (volume.legs().size() >= MAX_LEGS) {
            throw Rejection.conflict(volume.path() + " has " + volume.legs().size() + " legs already, the most a volume has");
        }
        if (volume.legs().stream().anyMatch(l -> l.state() == LegState.RESYNCING)) {
            throw Rejection.conflict(volume.path() + " has a leg resyncing; convert it once the resync is done"
                + " ('nines lv show " + volume.path() + "' shows its progress)");
        }
        if (command.replaces() != null) {
            requireLeg(volume, command.replaces());
        }
        long chunks = volume.chunks();
        Set<String> taken = new HashSet<>();
        volume.legs().stream().filter(l -> command.replaces() == null || l.index() != command.replaces())
            .forEach(l -> taken.add(l.node() != null ? l.node() : ""));
        boolean anywhere = Boolean.TRUE.equals(command.anywhere()) || command.physicalVolume() != null;
        String node = command.node();
        String pvId = null;
        if (command.physicalVolume() != null) {
            PhysicalVolume pv = storage.requirePhysicalVolume(command.physicalVolume());
            if (!group.physicalVolumes().contains(pv.id())) {
                throw Rejection.invalid(pv.displayName() + " is not in volume group '" + group.name() + "'");
            }
            if (node != null && !node.equals(pv.node())) {
                throw Rejection.invalid(pv.displayName() + " is on node '" + pv.node() + "', not '" + node + "'");
            }
            if (volume.legs().stream().anyMatch(l -> pv.id().equals(l.physicalVolume()))) {
                throw Rejection.conflict(pv.displayName() + " holds a leg of " + volume.path() + " already");
            }
            node = pv.node();
            pvId = pv.id();
        }
        if (!volume.mirrored() && volume.legs().getFirst().node() == null) {
            // a plain volume becomes a mirror: its first leg is bound to where its chunks are
            volume = bindFirstLeg(volume, storage);
            taken.clear();
            volume.legs().forEach(l -> taken.add(l.node()));
        }
        Map<String, Long> free = freeByNode(group, storage);
        if (node == null) {
            final LogicalVolume current = volume;
            node = free.entrySet().stream()
                .filter(e -> nodeUp(membership, e.getKey()) && (anywhere || !taken.contains(e.getKey())))
                .filter(e -> current.thin() || e.getValue() >= chunks)
                .max(Comparator.<Map.Entry<String, Long>>comparingLong(Map.Entry::getValue)
                    .thenComparing(Map.Entry::getKey, Comparator.reverseOrder()))
                .map(Map.Entry::getKey)
                .orElseThrow(() -> Rejection.noSpace("a new leg of " + current.path() + " needs a node that is up, has no"
                    + " leg of it yet and " + chunks * (Volumes.CHUNK_SIZE >> 20) + " MiB free in volume group '"
                    + group.name() + "'; it has " + describe(free, membership)));
        } else {
            membership.requireNode(node);
            if (!nodeUp(membership, node)) {
                throw Rejection.conflict("node '" + node + "' is down; put the new leg on a node that is up");
            }
            if (!anywhere && taken.contains(node)) {
                throw Rejection.conflict("node '" + node + "' holds a leg of " + volume.path() + " already; choose another"
                    + " node, or name a PV of it ('NODE:PV', with '--alloc anywhere')");
            }
        }
        if (anywhere && pvId == null && taken.contains(node)) {
            final String where = node;
            final LogicalVolume current = volume;
            pvId = group.physicalVolumes().stream().map(storage::requirePhysicalVolume)
                .filter(pv -> pv.node().equals(where))
                .filter(pv -> current.legs().stream().noneMatch(l -> pv.id().equals(l.physicalVolume())
                    || (l.physicalVolume() == null && where.equals(l.node()))))
                .max(Comparator.comparingLong(pv -> volumes.allocator().freeChunks(pv)))
                .map(PhysicalVolume::id)
                .orElseThrow(() -> Rejection.noSpace("node '" + where + "' has no PV without a leg of " + current.path()));
        }
        int index = volume.legs().stream().mapToInt(Leg::index).max().orElse(-1) + 1;
        var layer = volumes.layers().newLayer(null, volume.path());
        var leg = new Leg(index, layer.id, node, pvId, LegState.OUT, command.at(), "new leg: everything to copy",
            command.replaces());
        if (!volume.thin()) {
            final Leg placed = leg;
            List<PhysicalRange> got = volumes.allocator().find(group, chunks, chunks, node, storage, membership,
                placed::allows, " for leg " + index + " on " + node);
            volumes.allocator().take(got);
            volumes.setPool(Volumes.poolKey(volume.path(), index), new ChunkPool(got));
        }
        var legs = new ArrayList<>(volume.legs());
        legs.add(leg);
        LogicalVolume converted = volume.withLegs(legs);
        regionsFor(volume.path()).missed(index).add(0, chunks);
        volumes.put(converted);
        return converted;
    }

    /** A plain volume's leg is bound to the node holding its chunks (the first, if they are on several). */
    private LogicalVolume bindFirstLeg(LogicalVolume volume, Storage storage) {
        Map<String, Long> byPv = volumes.chunksByPhysicalVolume(volume);
        var nodes = new TreeMap<String, Long>();
        byPv.forEach((pv, count) -> nodes.merge(storage.requirePhysicalVolume(pv).node(), count, Long::sum));
        if (nodes.size() > 1) {
            throw Rejection.conflict(volume.path() + " has chunks on nodes " + nodes.keySet() + "; a leg of a mirror lives"
                + " on one node. Copy it to a volume on one node first ('nines lv create --on NODE', then 'nines lv import')");
        }
        if (nodes.isEmpty()) {
            // nothing written and no pool: the group's first node that is up takes it
            return volume;
        }
        Leg first = volume.legs().getFirst();
        Leg bound = new Leg(first.index(), first.layer(), nodes.firstKey(), null, first.state(), first.since(), first.reason(),
            first.replaces());
        return volume.withLeg(bound);
    }

    LogicalVolume removeLeg(RemoveLeg command) {
        LogicalVolume volume = volumes.requireVolume(command.volumeGroup(), command.name());
        Leg leg = requireLeg(volume, command.leg());
        if (volume.legs().size() == 1) {
            throw Rejection.conflict(volume.path() + " has one leg; remove the volume instead ('nines lv remove')");
        }
        if (leg.inSync() && volume.inSyncLegs().size() == 1) {
            throw Rejection.conflict("leg " + leg.index() + " is the last in-sync leg of " + volume.path()
                + "; the others are behind. Let them resync first ('nines lv show " + volume.path() + "')");
        }
        if (leg.state() == LegState.RESYNCING) {
            throw Rejection.conflict("leg " + leg.index() + " of " + volume.path() + " is resyncing; wait for it, or"
                + " detach the volume first");
        }
        LogicalVolume converted = withoutLeg(volume, leg);
        volumes.put(converted);
        return converted;
    }

    /** The volume without {@code leg}: its layers and pool are freed, what it missed forgotten. Moves the epoch. */
    private LogicalVolume withoutLeg(LogicalVolume volume, Leg leg) {
        volumes.dropLegData(volume, leg);
        Regions r = regions.get(volume.path());
        if (r != null) {
            r.missed.remove(leg.index());
        }
        var legs = volume.legs().stream().filter(l -> l.index() != leg.index()).toList();
        return volume.withLegs(legs).withEpoch(volume.epoch() + 1);
    }

    // ---- attachments ending ----

    /**
     * The writer on {@code node} let go of the volume: whatever it still had open may be half-written
     * on the legs, so those regions are repaired by the next writer and count as missed by every leg
     * out of the set. With no writer left, a resync stops where it is (the next writer goes on).
     */
    LogicalVolume writerGone(LogicalVolume volume, String node) {
        Regions r = regions.get(volume.path());
        if (r != null) {
            ChunkSet open = r.active.remove(node);
            if (open != null) {
                r.repair.addAll(open);
                for (Leg leg : volume.legs()) {
                    if (!leg.inSync()) {
                        r.missed(leg.index()).addAll(open);
                    }
                }
            }
        }
        if (volume.attached()) {
            return volume;
        }
        LogicalVolume paused = volume;
        for (Leg leg : volume.legs()) {
            if (leg.state() == LegState.RESYNCING) {
                paused = paused.withLeg(leg.withState(LegState.OUT, leg.since(), "resync paused: no writer attached"));
            }
        }
        return paused;
    }

    // ---- reading ----

    /** The volume's legs and what they have left to copy, as a writer or a listing needs them. */
    MirrorStatus status(LogicalVolume volume) {
        Regions r = regions.get(volume.path());
        var missed = new TreeMap<Integer, List<ChunkSpan>>();
        var missedChunks = new TreeMap<Integer, Long>();
        List<ChunkSpan> repair = List.of();
        var active = new TreeMap<String, List<ChunkSpan>>();
        if (r != null) {
            r.missed.forEach((leg, set) -> {
                missed.put(leg, set.spans());
                missedChunks.put(leg, set.size());
            });
            repair = r.repair.spans();
            r.active.forEach((node, set) -> active.put(node, set.spans()));
        }
        return new MirrorStatus(volume.legs(), missed, missedChunks, repair, active);
    }

    /** Chunks leg {@code leg} has left to copy. */
    long missedChunks(String path, int leg) {
        Regions r = regions.get(path);
        ChunkSet set = r == null ? null : r.missed.get(leg);
        return set == null ? 0 : set.size();
    }

    /** A snapshot starts with what its origin's legs missed (their frozen layers lack it as well). */
    void copyForSnapshot(String origin, String snapshot) {
        Regions r = regions.get(origin);
        if (r != null && !r.missed.isEmpty()) {
            regions.put(snapshot, r.copy());
        }
    }

    void clip(String path, long chunks) {
        Regions r = regions.get(path);
        if (r != null) {
            r.missed.values().forEach(set -> set.clip(chunks));
        }
    }

    private void requireWriter(LogicalVolume volume, String node, long epoch) {
        if (volume.attachment(node).isEmpty()) {
            throw Rejection.staleEpoch(volume.path() + " is not attached on '" + node + "'");
        }
        if (epoch != volume.epoch()) {
            throw Rejection.staleEpoch(volume.path() + " has epoch " + volume.epoch() + "; a writer with epoch " + epoch
                + " is cut off");
        }
    }

    private static Leg requireLeg(LogicalVolume volume, int index) {
        return volume.leg(index).orElseThrow(() -> Rejection.notFound(volume.path() + " has no leg " + index + " (legs: "
            + volume.legs().stream().map(Leg::index).toList() + ")"));
    }

    private static void requireWithin(LogicalVolume volume, ChunkSpan span, long chunks) {
        if (span.end() > chunks) {
            throw Rejection.invalid("chunks " + span.start() + "+" + span.count() + " are outside " + volume.path() + " ("
                + chunks + " chunks)");
        }
    }

    // ---- snapshots of the state ----

    Map<String, Volumes.RegionsSnapshot> snapshot() {
        var all = new TreeMap<String, Volumes.RegionsSnapshot>();
        regions.forEach((path, r) -> {
            var missed = new TreeMap<Integer, List<ChunkSpan>>();
            r.missed.forEach((leg, set) -> missed.put(leg, set.spans()));
            var active = new TreeMap<String, List<ChunkSpan>>();
            r.active.forEach((node, set) -> active.put(node, set.spans()));
            all.put(path, new Volumes.RegionsSnapshot(missed, active, r.repair.spans()));
        });
        return all;
    }

    void restore(Map<String, Volumes.RegionsSnapshot> snapshot) {
        regions.clear();
        if (snapshot == null) {
            return;
        }
        snapshot.forEach((path, s) -> {
            var r = new Regions();
            if (s.missed() != null) {
                s.missed().forEach((leg, spans) -> r.missed.put(leg, new ChunkSet(spans)));
            }
            if (s.active() != null) {
                s.active().forEach((node, spans) -> r.active.put(node, new ChunkSet(spans)));
            }
            if (s.repair() != null) {
                s.repair().forEach(r.repair::add);
            }
            regions.put(path, r);
        });
    }
}
