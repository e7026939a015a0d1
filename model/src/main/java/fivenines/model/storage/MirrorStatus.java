package fivenines.model.storage;

import java.util.List;
import java.util.Map;

/**
 * A volume's legs and what is left to do on them, as the store has it.
 *
 * @param legs         every leg, in the set or not
 * @param missed       per leg out of the set (or resyncing): the chunks it has to copy back
 * @param missedChunks per such leg: how many chunks that is
 * @param repair       regions a writer left without detaching cleanly: to be made alike on the in-sync legs
 * @param active       per writer: the regions it has open (its activity log)
 */
public record MirrorStatus(List<Leg> legs, Map<Integer, List<ChunkSpan>> missed, Map<Integer, Long> missedChunks,
                           List<ChunkSpan> repair, Map<String, List<ChunkSpan>> active) {
    public MirrorStatus {
        legs = List.copyOf(legs);
        missed = Map.copyOf(missed);
        missedChunks = Map.copyOf(missedChunks);
        repair = List.copyOf(repair);
        active = Map.copyOf(active);
    }

    public long missedChunks(int leg) {
        return missedChunks.getOrDefault(leg, 0L);
    }

    public List<ChunkSpan> missed(int leg) {
        return missed.getOrDefault(leg, List.of());
    }
}
