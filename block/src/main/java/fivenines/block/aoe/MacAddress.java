package fivenines.block.aoe;

import java.util.HexFormat;

/** A 48-bit Ethernet address, held in the low bits of a long. */
public record MacAddress(long bits) {
    public static final MacAddress BROADCAST = new MacAddress(0xFFFF_FFFF_FFFFL);

    public MacAddress {
        if ((bits & ~0xFFFF_FFFF_FFFFL) != 0) {
            throw new IllegalArgumentException("a MAC address has 48 bits");
        }
    }

    /** Parses {@code aa:bb:cc:dd:ee:ff} (or with dashes). */
    public static MacAddress parse(String text) {
        String[] parts = text.trim().split("[:-]");
        if (parts.length != 6) {
            throw new IllegalArgumentException("'" + text + "' is not a MAC address (six hex bytes, colon separated)");
        }
        long bits = 0;
        for (String part : parts) {
            if (part.isEmpty() || part.length() > 2) {
                throw new IllegalArgumentException("'" + text + "' is not a MAC address (six hex bytes, colon separated)");
            }
            try {
                bits = bits << 8 | Integer.parseInt(part, 16);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + text + "' is not a MAC address (six hex bytes, colon separated)");
            }
        }
        return new MacAddress(bits);
    }

    public static MacAddress read(byte[] frame, int offset) {
        long bits = 0;
        for (int i = 0; i < 6; i++) {
            bits = bits << 8 | (frame[offset + i] & 0xFF);
        }
        return new MacAddress(bits);
    }

    public void write(byte[] frame, int offset) {
        for (int i = 0; i < 6; i++) {
            frame[offset + i] = (byte) (bits >>> (8 * (5 - i)));
        }
    }

    public byte[] bytes() {
        byte[] b = new byte[6];
        write(b, 0);
        return b;
    }

    @Override
    public String toString() {
        return HexFormat.ofDelimiter(":").formatHex(bytes());
    }
}
