package fivenines.model.ha;

/** Where the fencing of a node declared down stands, as the manager records it in the store. */
public enum FenceState {
    /** Its fence methods are being run. */
    FENCING,
    /** A fence method powered it off and its agent confirmed it (status: off). */
    FENCED,
    /** A manual method (fence_manual), or no method left that can run: waits for 'nines fence ack NODE'. */
    WAITING_FOR_ACK,
    /** An operator confirmed with 'nines fence ack NODE' that the node is off. */
    ACKNOWLEDGED,
    /** Every method failed in the last round; tried again. */
    FAILED;

    /** Whether the node is certainly off: fenced by an agent or acknowledged by an operator. */
    public boolean done() {
        return this == FENCED || this == ACKNOWLEDGED;
    }
}
