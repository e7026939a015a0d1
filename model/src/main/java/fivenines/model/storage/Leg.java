package fivenines.model.storage;

/**
 * One copy of a volume's data (LVM's raid1 image, DRBD's peer disk): its own chain of layers, so
 * thin allocation and copy-on-write happen on each leg alike.
 *
 * @param index          the leg's number in its volume, kept for its life (a removed leg's number is not reused)
 * @param layer          id of the leg's top layer
 * @param node           the node whose PVs hold the leg's chunks; null for a volume of one leg (any node)
 * @param physicalVolume the one PV holding the leg's chunks ({@code --alloc anywhere}: legs on PVs of one node), or null
 * @param state          in the set, resyncing or out
 * @param since          when the leg entered its state (milliseconds since the epoch, as the command that moved it said)
 * @param reason         why a leg is out (the error that dropped it), or null
 * @param replaces       the leg this one replaces once in sync ({@code lv convert --replace/--repair}), or null
 */
public record Leg(int index, long layer, String node, String physicalVolume, LegState state, long since, String reason,
                  Integer replaces) {
    public Leg {
        if (state == null) {
            state = LegState.IN_SYNC;
        }
    }

    public static Leg single(long layer) {
        return new Leg(0, layer, null, null, LegState.IN_SYNC, 0, null, null);
    }

    public boolean inSync() {
        return state == LegState.IN_SYNC;
    }

    /** Whether a chunk of this PV on this node may hold the leg's data. */
    public boolean allows(PhysicalVolume pv) {
        return (node == null || node.equals(pv.node())) && (physicalVolume == null || physicalVolume.equals(pv.id()));
    }

    Leg withLayer(long newLayer) {
        return new Leg(index, newLayer, node, physicalVolume, state, since, reason, replaces);
    }

    Leg withState(LegState newState, long at, String why) {
        return new Leg(index, layer, node, physicalVolume, newState, at, why, newState == LegState.IN_SYNC ? null : replaces);
    }

    /** {@code NODE} or {@code NODE:PV} where the leg lives, for messages and listings. */
    public String where(Storage storage) {
        String pv = physicalVolume == null ? null
            : storage.physicalVolume(physicalVolume).map(PhysicalVolume::displayName).orElse(physicalVolume);
        return node == null ? "any node" : pv == null ? node : node + ":" + pv;
    }
}
