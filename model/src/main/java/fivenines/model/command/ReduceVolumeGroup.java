package fivenines.model.command;

/** Takes physical volumes out of a volume group; refused while any of their extents is in use. */
public record ReduceVolumeGroup(String name, java.util.List<String> physicalVolumes) implements Command {
}
