package fivenines.block.aoe;

import java.nio.charset.StandardCharsets;

/**
 * The 512 bytes an ATA IDENTIFY DEVICE answers, as far as an AoE initiator reads them: LBA and
 * LBA48 supported and enabled, FLUSH CACHE (EXT) supported, the capacity in words 60-61 (LBA28,
 * capped) and 100-103 (LBA48), a CHS geometry for drivers that still ask, and no volatile write
 * cache (words 82/85 bit 5 clear): every acknowledged write is already on stable storage.
 */
public final class IdentifyDevice {
    private IdentifyDevice() {
    }

    public static byte[] of(long sectors, int sectorsPerFrame, String serial, String firmware, String model) {
        byte[] id = new byte[512];
        word(id, 0, 0x0040);                  // fixed device
        long cylinders = Math.min(16383, sectors / (16 * 63));
        word(id, 1, (int) cylinders);
        word(id, 3, 16);
        word(id, 6, 63);
        text(id, 10, 20, serial);
        text(id, 23, 8, firmware);
        text(id, 27, 40, model);
        word(id, 47, 0x8000 | (sectorsPerFrame & 0xFF));
        word(id, 49, 0x0200);                 // LBA supported
        word(id, 50, 0x4000);
        word(id, 53, 0x0001);                 // words 54-58 valid
        word(id, 54, (int) cylinders);
        word(id, 55, 16);
        word(id, 56, 63);
        long chs = cylinders * 16 * 63;
        word(id, 57, (int) (chs & 0xFFFF));
        word(id, 58, (int) (chs >>> 16));
        long lba28 = Math.min(sectors, AoeProtocol.MAX_LBA28);
        word(id, 60, (int) (lba28 & 0xFFFF));
        word(id, 61, (int) (lba28 >>> 16));
        word(id, 80, 0x00F0);                 // ATA/ATAPI-4 to -7
        word(id, 83, 0x4000 | 1 << 13 | 1 << 12 | 1 << 10); // FLUSH CACHE EXT, FLUSH CACHE, LBA48 supported
        word(id, 84, 0x4000);
        word(id, 86, 1 << 13 | 1 << 12 | 1 << 10);          // the same, enabled
        word(id, 87, 0x4000);
        long lba48 = Math.min(sectors, AoeProtocol.MAX_LBA48);
        for (int i = 0; i < 4; i++) {
            word(id, 100 + i, (int) ((lba48 >>> (16 * i)) & 0xFFFF));
        }
        return id;
    }

    /** The capacity an IDENTIFY answer gives: LBA48's when supported, LBA28's otherwise. */
    public static long sectors(byte[] id) {
        boolean lba48 = ((word(id, 83) | word(id, 86)) & (1 << 10)) != 0;
        if (lba48) {
            long s = 0;
            for (int i = 3; i >= 0; i--) {
                s = s << 16 | word(id, 100 + i);
            }
            return s;
        }
        return (long) word(id, 61) << 16 | word(id, 60);
    }

    public static int word(byte[] id, int index) {
        return (id[2 * index] & 0xFF) | (id[2 * index + 1] & 0xFF) << 8;
    }

    /** An ATA string: two characters a word, the first in the high byte; space padded. */
    public static String text(byte[] id, int index, int length) {
        byte[] out = new byte[length];
        for (int i = 0; i < length; i += 2) {
            out[i] = id[2 * index + i + 1];
            out[i + 1] = id[2 * index + i];
        }
        return new String(out, StandardCharsets.US_ASCII).strip();
    }

    private static void word(byte[] id, int index, int value) {
        id[2 * index] = (byte) value;
        id[2 * index + 1] = (byte) (value >>> 8);
    }

    private static void text(byte[] id, int index, int length, String value) {
        byte[] chars = value.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < length; i++) {
            byte c = i < chars.length ? chars[i] : (byte) ' ';
            id[2 * index + (i ^ 1)] = c;
        }
    }
}
