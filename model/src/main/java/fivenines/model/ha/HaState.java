package fivenines.model.ha;

/** What the HA manager does about a VM with HA on. */
public enum HaState {
    /** Placed on a node that is up; its node runs it. */
    STARTED,
    /** Placed on a new node after its node died; starting there. */
    RECOVERING,
    /** Its node is dead: waiting until that node's lease has ended and the node is fenced. */
    WAITING_FOR_FENCING,
    /** Its node is dead and fenced, but no node that is up has room for it (memory, anti-affinity). */
    WAITING_FOR_ROOM,
    /** The manager gave up (relocation limit): needs an operator; the detail says why. */
    ERROR
}
