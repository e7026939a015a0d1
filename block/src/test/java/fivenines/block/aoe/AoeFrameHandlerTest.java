package fivenines.block.aoe;

import fivenines.block.nbd.NbdProtocol;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;

import static fivenines.block.aoe.AoeFrame.*;
import static fivenines.block.aoe.AoeProtocol.*;
import static org.junit.jupiter.api.Assertions.*;

/** The frame handler on known frames, byte for byte where the specification fixes the bytes. */
class AoeFrameHandlerTest {
    static final MacAddress TARGET = MacAddress.parse("02:00:00:00:00:01");
    static final MacAddress HOST_A = MacAddress.parse("02:00:00:00:00:0a");
    static final MacAddress HOST_B = MacAddress.parse("02:00:00:00:00:0b");
    static final int SHELF = 7;
    static final int SLOT = 3;

    final MemoryExport export = new MemoryExport(1 << 20, false);
    final AoeFrameHandler handler = new AoeFrameHandler(TARGET, SHELF, SLOT, 17, 64, () -> export);

    static byte[] hex(String text) {
        return HexFormat.of().parseHex(text.replace(" ", ""));
    }

    static byte[] frame(MacAddress from, int command, long tag, int bodyLength) {
        byte[] f = new byte[Math.max(MIN_FRAME, HEADER + bodyLength)];
        putHeader(f, TARGET, from, 0, 0, SHELF, SLOT, command, tag);
        return f;
    }

    static byte[] ata(MacAddress from, int cmd, long lba, int count, byte[] data) {
        byte[] f = frame(from, CMD_ATA, 0x1234, 12 + (data == null ? 0 : data.length));
        int aflags = (cmd == ATA_READ_SECTORS_EXT || cmd == ATA_WRITE_SECTORS_EXT ? AFLAG_EXTENDED : 0)
            | (data != null ? AFLAG_WRITE : 0);
        putAta(f, aflags, 0, count, cmd, lba);
        if (data != null) {
            System.arraycopy(data, 0, f, ATA_HEADER, data.length);
        }
        return f;
    }

    static byte[] config(MacAddress from, int ccmd, String value) {
        byte[] v = value.getBytes(StandardCharsets.US_ASCII);
        byte[] f = frame(from, CMD_QUERY_CONFIG, 9, 8 + v.length);
        putConfig(f, 0, 0, 0, ccmd, v);
        return f;
    }

    AoeFrameHandler.Reply handle(byte[] f) {
        return handler.handle(f, f.length);
    }

    @Test
    void sectorsPerFrameFollowTheMtu() {
        assertEquals(2, sectorsPerFrame(1500));
        assertEquals(17, sectorsPerFrame(9000));
        assertEquals(127, sectorsPerFrame(65536));
        assertEquals(255, sectorsPerFrame(1 << 20));
        assertThrows(IllegalArgumentException.class, () -> sectorsPerFrame(500));
    }

    @Test
    void aQueryConfigReadIsAnsweredByteForByteAndPaddedTo60() {
        // a broadcast Query Config read from aoeping: to ff:..:ff, shelf 0xffff, slot 0xff, tag 0x80000000
        byte[] request = hex("ffffffffffff 02000000000a 88a2 10 00 ffff ff 01 80000000"
            + "0000 0000 00 00 0000" + "00".repeat(28));
        var reply = handle(request);
        assertNotNull(reply);
        assertEquals(60, reply.length());
        assertEquals("02000000000a 020000000001 88a2 18 00 0007 03 01 80000000 0040 0001 11 10 0000".replace(" ", "")
                + "00".repeat(28),
            HexFormat.of().formatHex(reply.frame(), 0, reply.length()));
    }

    @Test
    void theAnnouncementIsAQueryConfigResponseToEveryone() {
        var a = handler.announcement();
        assertEquals(60, a.length());
        assertEquals(MacAddress.BROADCAST, destination(a.frame()));
        assertTrue(isResponse(a.frame()));
        assertEquals(CMD_QUERY_CONFIG, command(a.frame()));
        assertEquals(SHELF, shelf(a.frame()));
        assertEquals(SLOT, slot(a.frame()));
        assertEquals(17, configSectorCount(a.frame()));
        assertEquals(64, configBufferCount(a.frame()));
    }

    @Test
    void theConfigStringIsSetTestedAndForced() {
        assertEquals(0, configLength(handle(config(HOST_A, CCMD_READ, "")).frame()));
        var set = handle(config(HOST_A, CCMD_SET, "cluster-one"));
        assertFalse(isError(set.frame()));
        assertEquals("cluster-one", new String(handler.configString(), StandardCharsets.US_ASCII));
        // set again with the same string succeeds; with another fails with "config string present"
        assertFalse(isError(handle(config(HOST_B, CCMD_SET, "cluster-one")).frame()));
        var refused = handle(config(HOST_B, CCMD_SET, "cluster-two"));
        assertTrue(isError(refused.frame()));
        assertEquals(ERR_CONFIG_STRING_PRESENT, error(refused.frame()));
        assertEquals("cluster-one", new String(refused.frame(), CONFIG_HEADER, configLength(refused.frame()), StandardCharsets.US_ASCII));
        // test: exact match answers, anything else is dropped; test prefix: a prefix answers
        assertNotNull(handle(config(HOST_A, CCMD_TEST, "cluster-one")));
        assertNull(handle(config(HOST_A, CCMD_TEST, "cluster")));
        assertNotNull(handle(config(HOST_A, CCMD_TEST_PREFIX, "cluster")));
        assertNull(handle(config(HOST_A, CCMD_TEST_PREFIX, "cluster-one-and-more")));
        assertNull(handle(config(HOST_A, CCMD_TEST_PREFIX, "other")));
        var forced = handle(config(HOST_B, CCMD_FORCE_SET, "cluster-two"));
        assertFalse(isError(forced.frame()));
        assertEquals("cluster-two", new String(handler.configString(), StandardCharsets.US_ASCII));
        var unknown = handle(config(HOST_A, 9, ""));
        assertEquals(ERR_BAD_ARGUMENT, error(unknown.frame()));
        // a length beyond the frame is a bad argument for set, and changes nothing
        byte[] lying = config(HOST_A, CCMD_FORCE_SET, "x");
        putU16(lying, HEADER + 6, 900);
        assertEquals(ERR_BAD_ARGUMENT, error(handle(lying).frame()));
        assertEquals("cluster-two", new String(handler.configString(), StandardCharsets.US_ASCII));
    }

    @Test
    void identifyGivesLba48AndTheCapacity() {
        var reply = handle(ata(HOST_A, ATA_IDENTIFY_DEVICE, 0, 1, null));
        assertEquals(ATA_HEADER + 512, reply.length());
        assertEquals(STATUS_DRDY, ataCommand(reply.frame()));
        byte[] id = java.util.Arrays.copyOfRange(reply.frame(), ATA_HEADER, ATA_HEADER + 512);
        assertEquals(2048, IdentifyDevice.sectors(id));
        assertEquals(1 << 10, IdentifyDevice.word(id, 83) & (1 << 10));
        assertEquals(1 << 10, IdentifyDevice.word(id, 86) & (1 << 10));
        assertEquals(0x4000, IdentifyDevice.word(id, 83) & 0xC000);  // bit 14 set, 15 clear: the word is valid
        assertEquals(1 << 12 | 1 << 13, IdentifyDevice.word(id, 83) & (1 << 12 | 1 << 13));  // FLUSH CACHE (EXT)
        assertEquals(2048, IdentifyDevice.word(id, 60) | IdentifyDevice.word(id, 61) << 16);
        assertEquals("fivenines mem", IdentifyDevice.text(id, 27, 40));
        assertEquals("fivenines e7.3", IdentifyDevice.text(id, 10, 20));
    }

    @Test
    void aHugeExportCapsLba28AndKeepsLba48() {
        byte[] id = IdentifyDevice.of(1L << 33, 17, "s", "1", "m");
        assertEquals(1L << 33, IdentifyDevice.sectors(id));
        assertEquals(MAX_LBA28, IdentifyDevice.word(id, 60) | (long) IdentifyDevice.word(id, 61) << 16);
    }

    @Test
    void writesAndReadsInBothLbaFormsLandWhereTheySay() {
        byte[] data = new byte[1024];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 7 + 1);
        }
        var w = handle(ata(HOST_A, ATA_WRITE_SECTORS_EXT, 100, 2, data));
        assertTrue(w.durable(), "a write's reply waits for the flush");
        assertSame(export, w.export());
        assertEquals(STATUS_DRDY, ataCommand(w.frame()));
        assertEquals(60, w.length());
        assertArrayEquals(data, java.util.Arrays.copyOfRange(export.data, 100 * 512, 102 * 512));
        var r = handle(ata(HOST_B, ATA_READ_SECTORS_EXT, 100, 2, null));
        assertFalse(r.durable());
        assertEquals(ATA_HEADER + 1024, r.length());
        assertArrayEquals(data, java.util.Arrays.copyOfRange(r.frame(), ATA_HEADER, ATA_HEADER + 1024));
        // LBA28: the top nibble of lba3 carries the device register (0xE0 from Linux) and is not LBA
        var w28 = handle(ata(HOST_A, ATA_WRITE_SECTORS, 0xE0000000L | 5, 1, java.util.Arrays.copyOf(data, 512)));
        assertEquals(STATUS_DRDY, ataCommand(w28.frame()));
        assertArrayEquals(java.util.Arrays.copyOf(data, 512), java.util.Arrays.copyOfRange(export.data, 5 * 512, 6 * 512));
        var r28 = handle(ata(HOST_A, ATA_READ_SECTORS, 0xE0000000L | 5, 1, null));
        assertArrayEquals(java.util.Arrays.copyOf(data, 512), java.util.Arrays.copyOfRange(r28.frame(), ATA_HEADER, ATA_HEADER + 512));
        assertEquals(0x1234, tag(r28.frame()));
        assertEquals(HOST_A, destination(r28.frame()));
        assertEquals(TARGET, source(r28.frame()));
    }

    @Test
    void aReadBuiltInTheSendersBufferIsTheSameFrameAsOneBuiltOnTheHeap() {
        byte[] data = new byte[17 * 512];
        new java.util.Random(7).nextBytes(data);
        handle(ata(HOST_A, ATA_WRITE_SECTORS_EXT, 300, 17, data));
        byte[] request = ata(HOST_B, ATA_READ_SECTORS_EXT, 300, 17, null);
        var onHeap = handle(request);
        assertNotNull(onHeap.frame());
        // the sending thread's buffer holds whatever the last frame left there
        var buffer = java.nio.ByteBuffer.allocateDirect(9000 + 14);
        while (buffer.hasRemaining()) {
            buffer.put((byte) 0xEE);
        }
        handler.directReplies(() -> buffer);
        var direct = handle(request);
        assertNull(direct.frame(), "built in the buffer given");
        assertSame(buffer, direct.prepared());
        assertEquals(onHeap.length(), direct.length());
        assertArrayEquals(onHeap.bytes(), direct.bytes());
        assertArrayEquals(data, java.util.Arrays.copyOfRange(direct.bytes(), ATA_HEADER, ATA_HEADER + data.length));
        // a buffer too small for the reply: built on the heap as before
        handler.directReplies(() -> java.nio.ByteBuffer.allocateDirect(ATA_HEADER + 512));
        assertArrayEquals(onHeap.bytes(), handle(request).bytes());
    }

    @Test
    void anLbaPastTheEndIsIdnfAndTouchesNothing() {
        var r = handle(ata(HOST_A, ATA_WRITE_SECTORS_EXT, 2047, 2, new byte[1024]));
        assertEquals(STATUS_DRDY | STATUS_ERR, ataCommand(r.frame()));
        assertEquals(ERROR_IDNF, ataError(r.frame()));
        assertFalse(r.durable());
        assertEquals(0, export.writes.get());
        assertEquals(0, export.outside.get());
    }

    @Test
    void moreSectorsThanAFrameCarriesOrMissingDataIsABadArgument() {
        var tooMany = handle(ata(HOST_A, ATA_READ_SECTORS_EXT, 0, 18, null));
        assertTrue(isError(tooMany.frame()));
        assertEquals(ERR_BAD_ARGUMENT, error(tooMany.frame()));
        byte[] shortWrite = ata(HOST_A, ATA_WRITE_SECTORS_EXT, 0, 2, new byte[512]);
        assertEquals(ERR_BAD_ARGUMENT, error(handle(shortWrite).frame()));
        assertEquals(0, export.writes.get());
    }

    @Test
    void refusedWritesAreAtaErrorsAndNeverAcknowledged() {
        export.failWritesWith = NbdProtocol.ENOSPC;
        var r = handle(ata(HOST_A, ATA_WRITE_SECTORS_EXT, 0, 1, new byte[512]));
        assertEquals(STATUS_DRDY | STATUS_ERR, ataCommand(r.frame()));
        assertEquals(ERROR_ABRT, ataError(r.frame()));
        assertFalse(r.durable());
        var readOnly = new MemoryExport(4096, true);
        var h = new AoeFrameHandler(TARGET, SHELF, SLOT, 17, 64, () -> readOnly);
        byte[] f = ata(HOST_A, ATA_WRITE_SECTORS_EXT, 0, 1, new byte[512]);
        var ro = h.handle(f, f.length);
        assertEquals(STATUS_DRDY | STATUS_ERR, ataCommand(ro.frame()));
        assertEquals(0, readOnly.outside.get());
    }

    @Test
    void flushCacheFlushesAndOtherAtaCommandsAbort() {
        assertEquals(STATUS_DRDY, ataCommand(handle(ata(HOST_A, ATA_FLUSH_CACHE, 0, 0, null)).frame()));
        assertEquals(STATUS_DRDY, ataCommand(handle(ata(HOST_A, ATA_FLUSH_CACHE_EXT, 0, 0, null)).frame()));
        assertEquals(2, export.flushes.get());
        export.failFlush = true;
        assertEquals(STATUS_DRDY | STATUS_ERR, ataCommand(handle(ata(HOST_A, ATA_FLUSH_CACHE_EXT, 0, 0, null)).frame()));
        var smart = handle(ata(HOST_A, 0xB0, 0, 1, null));
        assertEquals(STATUS_DRDY | STATUS_ERR, ataCommand(smart.frame()));
        assertEquals(ERROR_ABRT, ataError(smart.frame()));
    }

    @Test
    void headerErrors() {
        var unknown = handle(frame(HOST_A, 9, 1, 0));
        assertTrue(isResponse(unknown.frame()) && isError(unknown.frame()));
        assertEquals(ERR_UNRECOGNIZED_COMMAND, error(unknown.frame()));
        byte[] v2 = config(HOST_A, CCMD_READ, "");
        v2[14] = 0x20;
        assertEquals(ERR_UNSUPPORTED_VERSION, error(handle(v2).frame()));
        var missing = new AoeFrameHandler(TARGET, SHELF, SLOT, 17, 64, () -> null);
        byte[] f = ata(HOST_A, ATA_READ_SECTORS_EXT, 0, 1, null);
        assertEquals(ERR_DEVICE_UNAVAILABLE, error(missing.handle(f, f.length).frame()));
    }

    @Test
    void shortResponsesAndOtherAddressesAreDropped() {
        byte[] f = config(HOST_A, CCMD_READ, "");
        assertNull(handler.handle(f, HEADER - 1));
        assertNull(handler.handle(f, CONFIG_HEADER - 1));
        byte[] a = ata(HOST_A, ATA_READ_SECTORS_EXT, 0, 1, null);
        assertNull(handler.handle(a, ATA_HEADER - 1));
        byte[] response = config(HOST_A, CCMD_READ, "");
        response[14] |= FLAG_RESPONSE;
        assertNull(handle(response));
        byte[] otherShelf = config(HOST_A, CCMD_READ, "");
        putU16(otherShelf, 16, SHELF + 1);
        assertNull(handle(otherShelf));
        byte[] otherSlot = config(HOST_A, CCMD_READ, "");
        otherSlot[18] = (byte) (SLOT + 1);
        assertNull(handle(otherSlot));
        byte[] notAoe = config(HOST_A, CCMD_READ, "");
        putU16(notAoe, 12, 0x0800);
        assertNull(handle(notAoe));
    }

    static byte[] mask(MacAddress from, int mcmd, int[] dcmds, MacAddress[] macs) {
        byte[] f = frame(from, CMD_MAC_MASK, 5, 4 + 8 * dcmds.length);
        f[HEADER + 1] = (byte) mcmd;
        f[HEADER + 3] = (byte) dcmds.length;
        for (int i = 0; i < dcmds.length; i++) {
            putDirective(f, i, dcmds[i], macs[i]);
        }
        return f;
    }

    @Test
    void theMacMaskListShutsOutEveryoneElse() {
        var added = handle(mask(HOST_A, MCMD_EDIT, new int[] {DCMD_ADD}, new MacAddress[] {HOST_A}));
        assertEquals(0, maskError(added.frame()));
        assertEquals(1, maskCount(added.frame()));
        assertEquals(HOST_A, directiveMac(added.frame(), 0));
        assertEquals(List.of(HOST_A), handler.masks());
        assertNull(handle(config(HOST_B, CCMD_READ, "")), "a MAC outside the list is ignored");
        assertNull(handle(ata(HOST_B, ATA_WRITE_SECTORS_EXT, 0, 1, new byte[512])));
        assertNull(handle(mask(HOST_B, MCMD_EDIT, new int[] {DCMD_ADD}, new MacAddress[] {HOST_B})));
        assertNotNull(handle(config(HOST_A, CCMD_READ, "")));
        var bad = handle(mask(HOST_A, MCMD_EDIT, new int[] {DCMD_ADD, 7}, new MacAddress[] {HOST_B, HOST_B}));
        assertEquals(MERROR_BAD_DIRECTIVE, maskError(bad.frame()));
        assertEquals(1, maskCount(bad.frame()), "the failing directive's index");
        assertEquals(List.of(HOST_A, HOST_B), handler.masks());
        var read = handle(mask(HOST_B, MCMD_READ, new int[0], new MacAddress[0]));
        assertEquals(2, maskCount(read.frame()));
        handle(mask(HOST_A, MCMD_EDIT, new int[] {DCMD_DELETE, DCMD_DELETE}, new MacAddress[] {HOST_A, HOST_B}));
        assertEquals(List.of(), handler.masks());
        assertNotNull(handle(config(MacAddress.parse("02:00:00:00:00:99"), CCMD_READ, "")));
        assertEquals(ERR_BAD_ARGUMENT, error(handle(mask(HOST_A, 5, new int[0], new MacAddress[0])).frame()));
    }

    @Test
    void aFullMaskListSaysSo() {
        int n = AoeFrameHandler.MAX_MASKS + 1;
        int[] adds = new int[n];
        MacAddress[] macs = new MacAddress[n];
        for (int i = 0; i < n; i++) {
            adds[i] = DCMD_ADD;
            macs[i] = new MacAddress(0x020000000100L + i);
        }
        macs[0] = HOST_A;
        var full = handle(mask(HOST_A, MCMD_EDIT, adds, macs));
        assertEquals(MERROR_LIST_FULL, maskError(full.frame()));
        assertEquals(n - 1, maskCount(full.frame()));
        assertEquals(AoeFrameHandler.MAX_MASKS, handler.masks().size());
    }

    static byte[] reserve(MacAddress from, int rcmd, MacAddress... macs) {
        byte[] f = frame(from, CMD_RESERVE, 6, 2 + 6 * macs.length);
        f[HEADER] = (byte) rcmd;
        f[HEADER + 1] = (byte) macs.length;
        for (int i = 0; i < macs.length; i++) {
            macs[i].write(f, RESERVE_HEADER + 6 * i);
        }
        return f;
    }

    @Test
    void aReservationKeepsOthersToIdentify() {
        var set = handle(reserve(HOST_A, RCMD_SET, HOST_A));
        assertFalse(isError(set.frame()));
        assertEquals(1, reserveCount(set.frame()));
        assertEquals(HOST_A, reserveMac(set.frame(), 0));
        var write = handle(ata(HOST_B, ATA_WRITE_SECTORS_EXT, 0, 1, new byte[512]));
        assertEquals(ERR_TARGET_RESERVED, error(write.frame()));
        assertEquals(0, export.writes.get());
        assertEquals(STATUS_DRDY, ataCommand(handle(ata(HOST_B, ATA_IDENTIFY_DEVICE, 0, 1, null)).frame()));
        assertEquals(STATUS_DRDY, ataCommand(handle(ata(HOST_A, ATA_WRITE_SECTORS_EXT, 0, 1, new byte[512])).frame()));
        assertEquals(ERR_TARGET_RESERVED, error(handle(reserve(HOST_B, RCMD_SET, HOST_B)).frame()));
        assertEquals(List.of(HOST_A), handler.reserves());
        assertEquals(1, reserveCount(handle(reserve(HOST_B, RCMD_READ)).frame()));
        assertFalse(isError(handle(reserve(HOST_B, RCMD_FORCE_SET, HOST_B)).frame()));
        assertEquals(List.of(HOST_B), handler.reserves());
        assertFalse(isError(handle(reserve(HOST_B, RCMD_SET)).frame()), "the holder releases");
        assertEquals(List.of(), handler.reserves());
        byte[] lying = reserve(HOST_A, RCMD_FORCE_SET, HOST_A);
        lying[HEADER + 1] = 40;
        assertEquals(ERR_BAD_ARGUMENT, error(handle(lying).frame()));
        assertEquals(List.of(), handler.reserves());
    }
}
