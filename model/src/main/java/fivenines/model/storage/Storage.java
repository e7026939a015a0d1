package fivenines.model.storage;

import fivenines.model.cluster.Membership;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.state.Names;
import fivenines.model.state.Rejection;

import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;

/** Physical volumes of the whole cluster. Mutated only by the state machine. */
public final class Storage {
    public static final long MIN_EXTENT_SIZE = 1L << 20;
    public static final long MAX_EXTENT_SIZE = 1L << 30;
    public static final long DEFAULT_EXTENT_SIZE = 4L << 20;
    public static final int MIN_EXTENTS = 2;

    private final TreeMap<String, PhysicalVolume> physicalVolumes = new TreeMap<>();

    public Collection<PhysicalVolume> physicalVolumes() {
        return physicalVolumes.values();
    }

    public Optional<PhysicalVolume> physicalVolume(String id) {
        return Optional.ofNullable(physicalVolumes.get(id));
    }

    /** Finds a PV by id, or by {@code node:path}. */
    public PhysicalVolume requirePhysicalVolume(String reference) {
        PhysicalVolume pv = physicalVolumes.get(reference);
        if (pv != null) {
            return pv;
        }
        return physicalVolumes.values().stream().filter(p -> p.displayName().equals(reference)).findFirst()
            .orElseThrow(() -> Rejection.notFound("no physical volume '" + reference + "'; 'nines pv list' shows them"));
    }

    public PhysicalVolume create(CreatePhysicalVolume command, Membership membership, long index) {
        membership.requireInitialized();
        if (command.id() == null || !command.id().matches("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")) {
            throw Rejection.invalid("physical volume id '" + command.id() + "' is not a lowercase UUID");
        }
        var node = membership.requireNode(command.node());
        if (node.state() == NodeState.DOWN) {
            throw Rejection.nodeDown("node '" + node.name() + "' is declared down; its disks cannot be offered until it is up again");
        }
        if (command.path() != null && command.path().startsWith(PhysicalVolume.AOE_PREFIX)) {
            if (!PhysicalVolume.isAoePath(command.path())) {
                throw Rejection.invalid("physical volume path '" + command.path() + "' must be an absolute path or"
                    + " aoe:eSHELF.SLOT@IF (shelf 0..65534, slot 0..254)");
            }
        } else if (command.path() == null || !command.path().startsWith("/") || command.path().length() > 4096
            || command.path().chars().anyMatch(c -> c < 0x20)) {
            throw Rejection.invalid("physical volume path '" + command.path() + "' must be an absolute path");
        }
        long extentSize = command.extentSize();
        if (extentSize < MIN_EXTENT_SIZE || extentSize > MAX_EXTENT_SIZE || Long.bitCount(extentSize) != 1) {
            throw Rejection.invalid("extent size " + extentSize + " must be a power of two from 1 MiB to 1 GiB");
        }
        if (command.size() < MIN_EXTENTS * extentSize) {
            throw Rejection.invalid("physical volume " + command.node() + ":" + command.path() + " has " + command.size()
                + " bytes of data; it needs at least " + MIN_EXTENTS + " extents of " + extentSize + " bytes");
        }
        Names.requireAddress("NBD address", command.nbdAddress());
        if (command.nbdSocket() == null || !command.nbdSocket().startsWith("/")) {
            throw Rejection.invalid("NBD socket '" + command.nbdSocket() + "' must be an absolute path");
        }
        if (physicalVolumes.containsKey(command.id())) {
            throw Rejection.conflict("physical volume " + command.id() + " exists already");
        }
        for (PhysicalVolume pv : physicalVolumes.values()) {
            if (pv.node().equals(command.node()) && pv.path().equals(command.path())) {
                throw Rejection.conflict(pv.displayName() + " is already physical volume " + pv.id());
            }
        }
        var pv = new PhysicalVolume(command.id(), command.node(), command.path(), command.size(), extentSize,
            command.nbdAddress(), command.nbdSocket(), index);
        physicalVolumes.put(pv.id(), pv);
        return pv;
    }

    public PhysicalVolume remove(String id) {
        PhysicalVolume pv = requirePhysicalVolume(id);
        physicalVolumes.remove(pv.id());
        return pv;
    }

    public List<PhysicalVolume> snapshot() {
        return List.copyOf(physicalVolumes.values());
    }

    public void restore(List<PhysicalVolume> snapshot) {
        physicalVolumes.clear();
        if (snapshot != null) {
            snapshot.forEach(pv -> physicalVolumes.put(pv.id(), pv));
        }
    }
}
