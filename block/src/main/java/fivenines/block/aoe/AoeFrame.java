package fivenines.block.aoe;

import static fivenines.block.aoe.AoeProtocol.*;

/**
 * Reads and writes the fields of an AoE frame held in a byte array (the whole Ethernet frame,
 * without its checksum). Pure: no I/O, no state. Lengths are checked by the caller against the
 * command's header size before any field beyond the AoE header is read.
 */
public final class AoeFrame {
    private AoeFrame() {
    }

    public static int u8(byte[] f, int at) {
        return f[at] & 0xFF;
    }

    public static int u16(byte[] f, int at) {
        return (f[at] & 0xFF) << 8 | (f[at + 1] & 0xFF);
    }

    public static void putU16(byte[] f, int at, int value) {
        f[at] = (byte) (value >>> 8);
        f[at + 1] = (byte) value;
    }

    public static long u32(byte[] f, int at) {
        return (long) u16(f, at) << 16 | u16(f, at + 2);
    }

    public static void putU32(byte[] f, int at, long value) {
        putU16(f, at, (int) (value >>> 16));
        putU16(f, at + 2, (int) value);
    }

    public static MacAddress destination(byte[] f) {
        return MacAddress.read(f, 0);
    }

    public static MacAddress source(byte[] f) {
        return MacAddress.read(f, 6);
    }

    public static int etherType(byte[] f) {
        return u16(f, 12);
    }

    public static int version(byte[] f) {
        return u8(f, 14) >>> 4;
    }

    public static int flags(byte[] f) {
        return u8(f, 14) & 0x0F;
    }

    public static boolean isResponse(byte[] f) {
        return (flags(f) & FLAG_RESPONSE) != 0;
    }

    public static boolean isError(byte[] f) {
        return (flags(f) & FLAG_ERROR) != 0;
    }

    public static int error(byte[] f) {
        return u8(f, 15);
    }

    public static int shelf(byte[] f) {
        return u16(f, 16);
    }

    public static int slot(byte[] f) {
        return u8(f, 18);
    }

    public static int command(byte[] f) {
        return u8(f, 19);
    }

    public static long tag(byte[] f) {
        return u32(f, 20);
    }

    /** Writes an AoE header (Ethernet part included) at the start of {@code f}. */
    public static void putHeader(byte[] f, MacAddress destination, MacAddress source, int flags, int error,
                                 int shelf, int slot, int command, long tag) {
        destination.write(f, 0);
        source.write(f, 6);
        putU16(f, 12, ETHER_TYPE);
        f[14] = (byte) (VERSION << 4 | (flags & 0x0F));
        f[15] = (byte) error;
        putU16(f, 16, shelf);
        f[18] = (byte) slot;
        f[19] = (byte) command;
        putU32(f, 20, tag);
    }

    // ---- ATA (command 0): aflags, err/feature, sector count, cmd/status, lba0..lba5, reserved (2)

    public static int ataFlags(byte[] f) {
        return u8(f, HEADER);
    }

    public static int ataError(byte[] f) {
        return u8(f, HEADER + 1);
    }

    public static int ataSectorCount(byte[] f) {
        return u8(f, HEADER + 2);
    }

    public static int ataCommand(byte[] f) {
        return u8(f, HEADER + 3);
    }

    /** The six LBA bytes, lba0 first. */
    public static long ataLba(byte[] f) {
        long lba = 0;
        for (int i = 5; i >= 0; i--) {
            lba = lba << 8 | (f[HEADER + 4 + i] & 0xFF);
        }
        return lba;
    }

    public static void putAta(byte[] f, int aflags, int errorOrFeature, int sectorCount, int commandOrStatus, long lba) {
        f[HEADER] = (byte) aflags;
        f[HEADER + 1] = (byte) errorOrFeature;
        f[HEADER + 2] = (byte) sectorCount;
        f[HEADER + 3] = (byte) commandOrStatus;
        for (int i = 0; i < 6; i++) {
            f[HEADER + 4 + i] = (byte) (lba >>> (8 * i));
        }
        f[HEADER + 10] = 0;
        f[HEADER + 11] = 0;
    }

    /** Turns an ATA reply into a failed one (status ERR, error ABRT, no sector done). */
    public static void failAta(byte[] reply, int sectorCount) {
        reply[HEADER + 1] = (byte) ERROR_ABRT;
        reply[HEADER + 2] = (byte) sectorCount;
        reply[HEADER + 3] = (byte) (STATUS_DRDY | STATUS_ERR);
    }

    // ---- Query Config (command 1): buffer count (2), firmware (2), sector count (1), ver/ccmd (1), length (2)

    public static int configBufferCount(byte[] f) {
        return u16(f, HEADER);
    }

    public static int configFirmware(byte[] f) {
        return u16(f, HEADER + 2);
    }

    public static int configSectorCount(byte[] f) {
        return u8(f, HEADER + 4);
    }

    public static int configVersion(byte[] f) {
        return u8(f, HEADER + 5) >>> 4;
    }

    public static int configCommand(byte[] f) {
        return u8(f, HEADER + 5) & 0x0F;
    }

    public static int configLength(byte[] f) {
        return u16(f, HEADER + 6);
    }

    public static void putConfig(byte[] f, int bufferCount, int firmware, int sectorCount, int ccmd, byte[] config) {
        putU16(f, HEADER, bufferCount);
        putU16(f, HEADER + 2, firmware);
        f[HEADER + 4] = (byte) sectorCount;
        f[HEADER + 5] = (byte) (VERSION << 4 | (ccmd & 0x0F));
        putU16(f, HEADER + 6, config.length);
        System.arraycopy(config, 0, f, CONFIG_HEADER, config.length);
    }

    // ---- Mac Mask List (command 2): reserved, mcmd, merror, directive count; directives of 8 bytes

    public static int maskCommand(byte[] f) {
        return u8(f, HEADER + 1);
    }

    public static int maskError(byte[] f) {
        return u8(f, HEADER + 2);
    }

    public static int maskCount(byte[] f) {
        return u8(f, HEADER + 3);
    }

    public static int directiveCommand(byte[] f, int index) {
        return u8(f, MASK_HEADER + index * MASK_DIRECTIVE + 1);
    }

    public static MacAddress directiveMac(byte[] f, int index) {
        return MacAddress.read(f, MASK_HEADER + index * MASK_DIRECTIVE + 2);
    }

    public static void putDirective(byte[] f, int index, int dcmd, MacAddress mac) {
        int at = MASK_HEADER + index * MASK_DIRECTIVE;
        f[at] = 0;
        f[at + 1] = (byte) dcmd;
        mac.write(f, at + 2);
    }

    // ---- Reserve/Release (command 3): rcmd, nmacs, MACs of 6 bytes

    public static int reserveCommand(byte[] f) {
        return u8(f, HEADER);
    }

    public static int reserveCount(byte[] f) {
        return u8(f, HEADER + 1);
    }

    public static MacAddress reserveMac(byte[] f, int index) {
        return MacAddress.read(f, RESERVE_HEADER + index * 6);
    }
}
