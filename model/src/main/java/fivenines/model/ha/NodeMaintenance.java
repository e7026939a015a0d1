package fivenines.model.ha;

import java.util.List;

/**
 * A node in maintenance: nothing new is placed there, and it is not fenced for being drained.
 *
 * @param returning the VMs drained from it, in the order they left: 'nines node maintenance disable' brings them back
 * @param since     the log index of the command that put it in maintenance
 */
public record NodeMaintenance(String node, List<String> returning, long since) {
    public NodeMaintenance {
        returning = returning == null ? List.of() : List.copyOf(returning);
    }
}
