package fivenines.model.command;

/**
 * A node renews its lease. Committed means the store could hear it: each replica notes when it
 * applied this (its own clock), and the node serves its HA guests only a lease length from the
 * moment it sent the last renewal that was applied. Refused for a node declared down.
 */
public record RenewLease(String node) implements Command {
}
