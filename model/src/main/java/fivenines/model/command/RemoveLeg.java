package fivenines.model.command;

/** Takes leg {@code leg} away from a volume and frees its chunks; never the last leg in the set. */
public record RemoveLeg(String volumeGroup, String name, int leg) implements Command {
}
