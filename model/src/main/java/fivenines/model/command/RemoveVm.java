package fivenines.model.command;

/** Removes a stopped VM's definition (its volumes stay). */
public record RemoveVm(String name) implements Command {
}
