package fivenines.model.command;

import java.util.List;

/**
 * Puts a node in maintenance ({@code on}), remembering the VMs drained from it ({@code returning},
 * added to those already remembered), or takes it out of maintenance, forgetting them.
 */
public record SetMaintenance(String node, boolean on, List<String> returning) implements Command {
    public SetMaintenance {
        returning = returning == null ? List.of() : List.copyOf(returning);
    }
}
