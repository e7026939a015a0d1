package fivenines.model.storage;

/** Where a leg of a volume stands against the others. */
public enum LegState {
    /** In the leg set: holds every acknowledged write; reads may come from it. */
    IN_SYNC,
    /** Receiving every new write and catching up on what it missed; not read from, not counted in the set. */
    RESYNCING,
    /** Out of the set: writes go on without it; what it missed is recorded, to be copied back when it returns. */
    OUT
}
