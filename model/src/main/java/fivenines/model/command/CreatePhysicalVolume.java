package fivenines.model.command;

/** Registers a labelled file or device of a node as a physical volume. */
public record CreatePhysicalVolume(String id, String node, String path, long size, long extentSize,
                                   String nbdAddress, String nbdSocket) implements Command {
}
