package fivenines.block.aoe;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which frames the target's reader thread may serve itself: never a write or a flush, which may wait on the disk. */
class AoeTargetFramesTest {
    private static byte[] ata(int command) {
        byte[] frame = new byte[60];
        AoeFrame.putHeader(frame, MacAddress.BROADCAST, MacAddress.BROADCAST, 0, 0, 1, 1, AoeProtocol.CMD_ATA, 7);
        AoeFrame.putAta(frame, 0x40, 0, 1, command, 0);
        return frame;
    }

    @Test
    void writesAndFlushesAreHandedToWorkersAndReadsAndQueriesAreNot() {
        for (int write : new int[] {AoeProtocol.ATA_WRITE_SECTORS, AoeProtocol.ATA_WRITE_SECTORS_EXT,
            AoeProtocol.ATA_FLUSH_CACHE, AoeProtocol.ATA_FLUSH_CACHE_EXT}) {
            assertTrue(AoeTarget.writesOrFlushes(ata(write), 60), Integer.toHexString(write));
        }
        assertFalse(AoeTarget.writesOrFlushes(ata(AoeProtocol.ATA_READ_SECTORS), 60));
        assertFalse(AoeTarget.writesOrFlushes(ata(AoeProtocol.ATA_READ_SECTORS_EXT), 60));
        byte[] query = new byte[60];
        AoeFrame.putHeader(query, MacAddress.BROADCAST, MacAddress.BROADCAST, 0, 0, 1, 1, AoeProtocol.CMD_QUERY_CONFIG, 7);
        query[AoeProtocol.HEADER + 3] = (byte) AoeProtocol.ATA_WRITE_SECTORS; // a config field, not an ATA command
        assertFalse(AoeTarget.writesOrFlushes(query, 60));
        // too short to name an ATA command: the handler drops it, on whichever thread
        assertFalse(AoeTarget.writesOrFlushes(ata(AoeProtocol.ATA_WRITE_SECTORS), AoeProtocol.HEADER + 3));
    }
}
