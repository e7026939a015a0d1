package fivenines.model.command;

/** Removes a node that left or was declared gone; its locks are released and a member is promoted if a voter left. */
public record RemoveNode(String name, String reason) implements Command {
}
