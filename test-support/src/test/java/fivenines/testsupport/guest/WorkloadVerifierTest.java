package fivenines.testsupport.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class WorkloadVerifierTest {

    private static byte[] disk(int blocks, long... sequences) {
        byte[] disk = new byte[blocks * WorkloadRecord.SIZE];
        for (int position = 0; position < sequences.length; position++) {
            if (sequences[position] > 0) {
                System.arraycopy(WorkloadRecord.encode(sequences[position]), 0, disk,
                        position * WorkloadRecord.SIZE, WorkloadRecord.SIZE);
            }
        }
        return disk;
    }

    private static WorkloadVerifier.Result verify(byte[] disk) throws IOException {
        return WorkloadVerifier.verify(new ByteArrayInputStream(disk));
    }

    @Test
    void contiguousRecordsAreIntact() throws IOException {
        var result = verify(disk(8, 1, 2, 3, 4));
        assertTrue(result.intact(), result.problems()::toString);
        assertEquals(4, result.lastSequence());
        result.requireHolds(4);
        result.requireHolds(3);
        assertThrows(AssertionError.class, () -> result.requireHolds(5));
        assertThrows(AssertionError.class, () -> result.requireHolds(2));
    }

    @Test
    void gapIsReported() throws IOException {
        var result = verify(disk(8, 1, 2, 0, 4));
        assertFalse(result.intact());
        assertEquals(2, result.lastSequence());
    }

    @Test
    void duplicateIsReported() throws IOException {
        var result = verify(disk(8, 1, 2, 3, 3));
        assertFalse(result.intact());
        assertTrue(result.problems().getFirst().contains("duplicate"), result.problems()::toString);
    }

    @Test
    void tornLastRecordIsAllowedButCorruptionInsideIsNot() throws IOException {
        byte[] torn = disk(8, 1, 2, 3);
        torn[3 * WorkloadRecord.SIZE] = 'N';
        var result = verify(torn);
        assertTrue(result.intact(), result.problems()::toString);
        assertTrue(result.tornTail());
        assertEquals(3, result.lastSequence());

        byte[] corrupt = disk(8, 1, 2, 3);
        corrupt[WorkloadRecord.SIZE + 200] ^= 1;
        var damaged = verify(corrupt);
        assertFalse(damaged.intact());
        assertEquals(1, damaged.lastSequence());
    }
}
