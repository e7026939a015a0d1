package fivenines.model.command;

import fivenines.model.ha.FenceState;

/** The manager records where the fencing of a node declared down stands; also an operator's 'nines fence ack'. */
public record RecordFencing(String node, FenceState state, String detail) implements Command {
}
