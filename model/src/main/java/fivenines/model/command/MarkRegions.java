package fivenines.model.command;

import fivenines.model.storage.ChunkSpan;

import java.util.List;
import java.util.Map;

/**
 * The writer on {@code node} records regions of a mirrored volume: {@code activate} before it first
 * writes into them (its activity log), {@code retire} once its writes there are on every leg it
 * wrote to, and {@code missed}: per leg out of the set, the chunks written without it.
 */
public record MarkRegions(String volumeGroup, String name, String node, long epoch, List<ChunkSpan> activate,
                          List<ChunkSpan> retire, Map<Integer, List<ChunkSpan>> missed) implements Command {
    public MarkRegions {
        activate = activate == null ? List.of() : List.copyOf(activate);
        retire = retire == null ? List.of() : List.copyOf(retire);
        missed = missed == null ? Map.of() : Map.copyOf(missed);
    }
}
