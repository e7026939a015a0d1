package fivenines.model.storage;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ChunkRunsTest {
    static final String PV = "00000000-0000-4000-8000-000000000001";
    static final String OTHER = "00000000-0000-4000-8000-000000000002";

    @Test
    void chunksWrittenInOrderOnConsecutivePvChunksAreOneRunWhateverTheOrderOfWriting() {
        var runs = new ChunkRuns();
        for (long c : new long[] {3, 0, 2, 1, 5, 4}) {
            runs.put(c, new ChunkRef(PV, 100 + c));
        }
        assertEquals(List.of(new ChunkRun(0, PV, 100, 6)), runs.snapshot());
        assertEquals(6, runs.size());
        assertEquals(new ChunkRef(PV, 104), runs.get(4));
        assertNull(runs.get(6));
    }

    @Test
    void chunksThatDoNotContinueOnThePvStaySeparateRuns() {
        var runs = new ChunkRuns();
        runs.put(0, new ChunkRef(PV, 10));
        runs.put(1, new ChunkRef(PV, 12));
        runs.put(2, new ChunkRef(OTHER, 13));
        assertEquals(3, runs.runCount());
    }

    @Test
    void aCopyOnWriteInsideARunSplitsItInThree() {
        var runs = new ChunkRuns();
        for (long c = 0; c < 10; c++) {
            runs.put(c, new ChunkRef(PV, c));
        }
        assertEquals(new ChunkRef(PV, 4), runs.put(4, new ChunkRef(OTHER, 0)));
        assertEquals(List.of(new ChunkRun(0, PV, 0, 4), new ChunkRun(4, OTHER, 0, 1), new ChunkRun(5, PV, 5, 5)),
            runs.snapshot());
        assertEquals(10, runs.size());
        // and writing the old chunk back merges the three again
        runs.put(4, new ChunkRef(PV, 4));
        assertEquals(List.of(new ChunkRun(0, PV, 0, 10)), runs.snapshot());
    }

    @Test
    void removingPartOfARunKeepsTheRest() {
        var runs = new ChunkRuns();
        runs.add(new ChunkRun(0, PV, 50, 8));
        assertEquals(new ChunkRef(PV, 50), runs.remove(0));
        assertEquals(new ChunkRef(PV, 57), runs.remove(7));
        assertEquals(new ChunkRef(PV, 53), runs.remove(3));
        assertNull(runs.remove(3));
        assertEquals(List.of(new ChunkRun(1, PV, 51, 2), new ChunkRun(4, PV, 54, 3)), runs.snapshot());
        assertEquals(5, runs.size());
        assertEquals(3, runs.countBelow(5));
    }

    @Test
    void runsOfARangeAreClippedToIt() {
        var runs = new ChunkRuns();
        runs.add(new ChunkRun(0, PV, 0, 10));
        runs.add(new ChunkRun(20, OTHER, 0, 10));
        assertEquals(List.of(new ChunkRun(5, PV, 5, 5), new ChunkRun(20, OTHER, 0, 2)), runs.runs(5, 22));
        assertEquals(List.of(), runs.runs(10, 20));
    }

    @Test
    void aFrozenParentMergingIntoItsOnlyChildGivesBackExactlyTheChunksTheChildReplaced() {
        var parent = new ChunkRuns();
        parent.add(new ChunkRun(0, PV, 0, 10));
        var child = new ChunkRuns();
        child.put(2, new ChunkRef(OTHER, 0));
        child.put(3, new ChunkRef(OTHER, 1));
        child.put(9, new ChunkRef(OTHER, 7));
        child.put(12, new ChunkRef(OTHER, 8));
        var hidden = new ArrayList<PhysicalRange>();
        child.absorb(parent, hidden::add);
        assertEquals(List.of(new PhysicalRange(PV, 2, 2), new PhysicalRange(PV, 9, 1)), hidden);
        assertEquals(List.of(new ChunkRun(0, PV, 0, 2), new ChunkRun(2, OTHER, 0, 2), new ChunkRun(4, PV, 4, 5),
            new ChunkRun(9, OTHER, 7, 1), new ChunkRun(12, OTHER, 8, 1)), child.snapshot());
    }

    @Test
    void aRunOverMappedChunksIsRefused() {
        var runs = new ChunkRuns();
        runs.add(new ChunkRun(0, PV, 0, 4));
        assertThrows(IllegalArgumentException.class, () -> runs.add(new ChunkRun(3, OTHER, 0, 2)));
        assertEquals(List.of(new ChunkRun(0, PV, 0, 4)), runs.snapshot());
    }
}
