package fivenines.model.storage;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

class VolumeViewTest {
    static final String PV = "00000000-0000-4000-8000-000000000001";
    private final VolumeView view = new VolumeView("vg/lv", 64L << 20, 3, false, List.of(), List.of(
        new VolumeView.Run(new ChunkRun(0, PV, 100, 10), false),
        new VolumeView.Run(new ChunkRun(10, PV, 7, 1), true),
        new VolumeView.Run(new ChunkRun(20, PV, 200, 30), true)));

    @Test
    void aChunkIsFoundInItsRunAndAChunkInNoRunReadsAsZeroes() {
        assertEquals(new VolumeView.Located(new ChunkRef(PV, 105), false), view.locate(5));
        assertEquals(new VolumeView.Located(new ChunkRef(PV, 7), true), view.locate(10));
        assertEquals(new VolumeView.Located(new ChunkRef(PV, 229), true), view.locate(49));
        assertNull(view.locate(11));
        assertNull(view.locate(50));
        assertEquals(41, view.mappedChunks());
    }

    @Test
    void theRunsOfARangeAreClippedToIt() {
        assertEquals(List.of(new VolumeView.Run(new ChunkRun(8, PV, 108, 2), false),
            new VolumeView.Run(new ChunkRun(10, PV, 7, 1), true),
            new VolumeView.Run(new ChunkRun(20, PV, 200, 2), true)), view.runs(8, 22));
        assertEquals(List.of(), view.runs(11, 20));
    }

    @Test
    void overlappingRunsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new VolumeView("vg/lv", 64L << 20, 0, false, List.of(), List.of(
            new VolumeView.Run(new ChunkRun(0, PV, 0, 10), true), new VolumeView.Run(new ChunkRun(9, PV, 50, 1), true))));
    }
}
