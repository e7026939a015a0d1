package fivenines.model.command;

/** Adds physical volumes to a volume group. */
public record ExtendVolumeGroup(String name, java.util.List<String> physicalVolumes) implements Command {
}
