package fivenines.model.ha;

/**
 * The fencing of one node declared down.
 *
 * @param detail what was tried and what it waits for (e.g. "method 1 (ipmi): off failed, exit 1; waiting for 'nines fence ack node2'")
 * @param since  the log index of the command that recorded this state
 */
public record NodeFencing(String node, FenceState state, String detail, long since) {
}
