package fivenines.model.command;

/**
 * A live migration's steps in the store: {@code begin} marks it (only one at a time per VM),
 * {@code complete} moves the placement to {@code destination}, {@code abort} clears the mark and
 * leaves the VM where it was.
 */
public record MigrateVm(String name, String destination, String step) implements Command {
}
