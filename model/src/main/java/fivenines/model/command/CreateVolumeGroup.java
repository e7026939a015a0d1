package fivenines.model.command;

/** Makes a volume group of physical volumes (by id or NODE:PATH), all of one extent size. */
public record CreateVolumeGroup(String name, java.util.List<String> physicalVolumes) implements Command {
}
