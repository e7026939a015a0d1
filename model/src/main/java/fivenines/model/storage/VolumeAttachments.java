package fivenines.model.storage;

import fivenines.model.cluster.Membership;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.AttachLogicalVolume;
import fivenines.model.command.CommitChunks;
import fivenines.model.command.DetachLogicalVolume;
import fivenines.model.command.ReserveChunks;
import fivenines.model.state.Names;
import fivenines.model.state.Rejection;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;

/**
 * Who serves each volume, at which epoch, and what its writers reserve and commit. Every new
 * sole writer (and a forced take-over) moves the epoch; reservations and commits carry the
 * writer's epoch and are refused when it is not the volume's (invariant 2).
 */
final class VolumeAttachments {
    private final Volumes volumes;

    VolumeAttachments(Volumes volumes) {
        this.volumes = volumes;
    }

    LogicalVolume attach(AttachLogicalVolume command, Membership membership, long index) {
        LogicalVolume volume = volumes.requireVolume(command.volumeGroup(), command.name());
        var node = membership.requireNode(command.node());
        if (node.state() == NodeState.DOWN) {
            throw Rejection.nodeDown("node '" + node.name() + "' is declared down; attach " + volume.path() + " on a node that is up");
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
            for (Attachment gone : others) {
                taken = volumes.mirrors().writerGone(taken, gone.node());
            }
            volumes.put(taken);
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
        volumes.put(attached);
        return attached;
    }

    LogicalVolume detach(DetachLogicalVolume command) {
        LogicalVolume volume = volumes.requireVolume(command.volumeGroup(), command.name());
        if (command.node() != null && volume.attachment(command.node()).isEmpty()) {
            throw Rejection.conflict(volume.path() + " is not attached on '" + command.node() + "'"
                + (volume.attached() ? " (it is on " + Volumes.nodes(volume) + ")" : ""));
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
        for (Attachment a : volume.attachments()) {
            if (command.node() == null || a.node().equals(command.node())) {
                detached = volumes.mirrors().writerGone(detached, a.node());
            }
        }
        volumes.put(detached);
        return detached;
    }

    void detachAll(String node) {
        for (LogicalVolume volume : List.copyOf(volumes.volumes())) {
            if (volume.attachment(node).isPresent()) {
                detach(new DetachLogicalVolume(volume.volumeGroup(), volume.name(), node));
            }
        }
    }

    List<ChunkRef> reserve(ReserveChunks command, Storage storage, Membership membership) {
        LogicalVolume volume = volumes.requireVolume(command.volumeGroup(), command.name());
        Attachment attachment = requireWriter(volume, command.node(), command.epoch());
        if (command.count() < 1 || command.count() > 4096) {
            throw Rejection.invalid("reserve 1 to 4096 chunks, not " + command.count());
        }
        VolumeGroup group = volumes.requireGroup(volume.volumeGroup());
        Leg leg = volume.leg(command.legIndex()).orElseThrow(() -> Rejection.notFound(volume.path() + " has no leg "
            + command.legIndex()));
        String key = Volumes.poolKey(volume.path(), leg.index());
        ChunkPool pool = volumes.pool(key);
        // a thick volume takes no more than its leg has left to own (its chunks not yet its own in its top layer
        // nor reserved for it), one at a time beyond that: its pool, not the group, is where its space comes from
        int count = command.count();
        if (!volume.thin()) {
            long reservedHere = attachment.reserved().stream().filter(c -> volumes.storage().physicalVolume(c.physicalVolume())
                .map(leg::allows).orElse(false)).count();
            long left = volume.chunks() - volumes.layers().get(leg.layer()).chunks.size() - reservedHere;
            if (left <= 0 && volumes.layers().chain(leg.layer()).size() == 1) {
                // nothing shared, so no copy on write: every chunk it will ever write is its own or reserved already
                throw Rejection.noSpace(volume.path() + " (leg " + leg.index() + ") has every one of its " + volume.chunks()
                    + " chunks mapped or reserved already");
            }
            // at least one when it shares chunks with a snapshot (copies on write take space beyond its own)
            count = (int) Math.max(1, Math.min(count, left));
        }
        List<ChunkRef> taken;
        if (pool != null) {
            // a thick volume's own chunks first, the nearest to the writer first
            taken = pool.take(count,
                pv -> storage.requirePhysicalVolume(pv).node().equals(command.node()));
            if (pool.isEmpty()) {
                volumes.setPool(key, null);
            }
        } else {
            List<PhysicalRange> found = volumes.allocator().find(group, count, 1,
                leg.node() != null ? leg.node() : command.node(), storage, membership, leg::allows, Volumes.legWhere(leg));
            volumes.allocator().take(found);
            taken = ChunkAllocator.chunks(found);
        }
        var reserved = new ArrayList<>(attachment.reserved());
        reserved.addAll(taken);
        replaceAttachment(volume, attachment.withReserved(reserved));
        return taken;
    }

    int commit(CommitChunks command) {
        LogicalVolume volume = volumes.requireVolume(command.volumeGroup(), command.name());
        Attachment attachment = requireWriter(volume, command.node(), command.epoch());
        Leg leg = volume.leg(command.legIndex()).orElseThrow(() -> Rejection.notFound(volume.path() + " has no leg "
            + command.legIndex()));
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
            if (!leg.allows(volumes.storage().requirePhysicalVolume(mapping.chunk().physicalVolume()))) {
                throw Rejection.invalid("chunk " + mapping.chunk() + " is not where leg " + leg.index() + " of " + volume.path()
                    + " lives (" + leg.where(volumes.storage()) + ")");
            }
            if (!seen.add(mapping.virtualChunk())) {
                throw Rejection.invalid("chunk " + mapping.virtualChunk() + " of " + volume.path() + " is mapped twice");
            }
        }
        LayerTree.Layer top = volumes.layers().get(leg.layer());
        for (ChunkMapping mapping : command.mappings()) {
            reserved.remove(mapping.chunk());
            volumes.layers().map(top, mapping.virtualChunk(), mapping.chunk());
        }
        replaceAttachment(volume, attachment.withReserved(List.copyOf(reserved)));
        return command.mappings().size();
    }

    /**
     * Chunks reserved and not written go back to the pool of the thick volume's leg they belong to
     * (as far as it needs them), else to the group.
     */
    private void giveBack(LogicalVolume volume, List<ChunkRef> chunks) {
        if (chunks.isEmpty()) {
            return;
        }
        var freed = new ArrayList<ChunkRef>();
        var byLeg = new java.util.TreeMap<Integer, List<ChunkRef>>();
        for (ChunkRef chunk : chunks) {
            Optional<Leg> owner = volumes.storage().physicalVolume(chunk.physicalVolume())
                .flatMap(pv -> volume.legs().stream().filter(l -> l.allows(pv)).findFirst());
            if (owner.isEmpty()) {
                freed.add(chunk);
            } else {
                byLeg.computeIfAbsent(owner.get().index(), l -> new ArrayList<>()).add(chunk);
            }
        }
        byLeg.forEach((index, mine) -> {
            Leg leg = volume.leg(index).orElseThrow();
            String key = Volumes.poolKey(volume.path(), index);
            ChunkPool pool = volumes.pool(key);
            long pooled = pool == null ? 0 : pool.chunks();
            long need = volume.thin() ? 0 : Math.max(0, volume.chunks() - volumes.mappedChunks(volume, leg) - pooled);
            var kept = pool == null ? new ChunkPool(List.of()) : pool;
            for (ChunkRef chunk : mine) {
                if (need > 0) {
                    kept.append(chunk);
                    need--;
                } else {
                    freed.add(chunk);
                }
            }
            if (!kept.isEmpty()) {
                volumes.setPool(key, kept);
            }
        });
        volumes.allocator().freeChunks(freed);
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
        volumes.put(volume.withAttachments(volume.epoch(), all));
    }
}
