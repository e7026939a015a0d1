package fivenines.model.command;

/** The writer on {@code node} starts copying back what leg {@code leg} missed; from now on it sends it every write. */
public record StartResync(String volumeGroup, String name, String node, long epoch, int leg, long at) implements Command {
}
