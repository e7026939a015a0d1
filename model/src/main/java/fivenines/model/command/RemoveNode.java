package fivenines.model.command;

/**
 * Removes a node that left or was declared gone; its locks are released and a member is
 * promoted if a voter left. A node that leaves ({@link #LEFT}) must first take its physical
 * volumes out of every volume group; a dead node may be removed with them (they stay, missing).
 */
public record RemoveNode(String name, String reason) implements Command {
    /** The reason of a node that takes itself out ('nines cluster leave'). */
    public static final String LEFT = "left";
}
