package fivenines.model.command;

/**
 * A new cluster secret (the join token) replaces the current one, whose digest must be
 * {@code previousSha256} (so two rotations at once cannot both win). The store never holds a
 * secret: {@code sealed} is the new one encrypted under a key derived from the previous one
 * (AES-256-GCM), so every node that holds the previous secret, also one that was down and
 * catches up later, can open it; no one else can.
 */
public record RotateSecret(String previousSha256, String secretSha256, String sealed) implements Command {
}
