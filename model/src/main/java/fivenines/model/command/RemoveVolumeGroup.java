package fivenines.model.command;

/** Removes an empty volume group. */
public record RemoveVolumeGroup(String name) implements Command {
}
