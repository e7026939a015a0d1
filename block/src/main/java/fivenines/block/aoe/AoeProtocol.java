package fivenines.block.aoe;

/**
 * Numbers of the ATA over Ethernet protocol, version 1 (the AoE specification, revision 11),
 * and the few ATA ones its ATA command carries.
 *
 * <p>Every offset is from the start of the Ethernet frame: destination (6), source (6),
 * EtherType (2), then the AoE header: version and flags (1), error (1), major/shelf (2),
 * minor/slot (1), command (1), tag (4). Multi-byte AoE fields are big-endian; the ATA LBA
 * is little-endian (lba0 first) and IDENTIFY's words are little-endian.
 */
public final class AoeProtocol {
    public static final int ETHER_TYPE = 0x88A2;
    public static final int VERSION = 1;

    public static final int FLAG_RESPONSE = 0x08;
    public static final int FLAG_ERROR = 0x04;

    public static final int CMD_ATA = 0;
    public static final int CMD_QUERY_CONFIG = 1;
    public static final int CMD_MAC_MASK = 2;
    public static final int CMD_RESERVE = 3;

    /** AoE error codes (header byte 15, with {@link #FLAG_ERROR}). */
    public static final int ERR_UNRECOGNIZED_COMMAND = 1;
    public static final int ERR_BAD_ARGUMENT = 2;
    public static final int ERR_DEVICE_UNAVAILABLE = 3;
    public static final int ERR_CONFIG_STRING_PRESENT = 4;
    public static final int ERR_UNSUPPORTED_VERSION = 5;
    public static final int ERR_TARGET_RESERVED = 6;

    public static final int BROADCAST_SHELF = 0xFFFF;
    public static final int BROADCAST_SLOT = 0xFF;

    public static final int ETHERNET_HEADER = 14;
    /** Ethernet plus AoE header: where a command's own fields begin. */
    public static final int HEADER = 24;
    public static final int ATA_HEADER = HEADER + 12;
    public static final int CONFIG_HEADER = HEADER + 8;
    public static final int MASK_HEADER = HEADER + 4;
    public static final int MASK_DIRECTIVE = 8;
    public static final int RESERVE_HEADER = HEADER + 2;
    /** The Ethernet minimum without its checksum: every reply is padded to it (a veth does not pad). */
    public static final int MIN_FRAME = 60;
    public static final int MAX_CONFIG_STRING = 1024;
    public static final int SECTOR = 512;

    /** Query Config's config string commands (low nibble of the version/command byte). */
    public static final int CCMD_READ = 0;
    public static final int CCMD_TEST = 1;
    public static final int CCMD_TEST_PREFIX = 2;
    public static final int CCMD_SET = 3;
    public static final int CCMD_FORCE_SET = 4;

    /** Mac Mask List commands, directive commands and errors. */
    public static final int MCMD_READ = 0;
    public static final int MCMD_EDIT = 1;
    public static final int DCMD_NONE = 0;
    public static final int DCMD_ADD = 1;
    public static final int DCMD_DELETE = 2;
    public static final int MERROR_UNSPECIFIED = 1;
    public static final int MERROR_BAD_DIRECTIVE = 2;
    public static final int MERROR_LIST_FULL = 3;

    /** Reserve/Release commands. */
    public static final int RCMD_READ = 0;
    public static final int RCMD_SET = 1;
    public static final int RCMD_FORCE_SET = 2;

    /** ATA header flags (first byte of the ATA header). */
    public static final int AFLAG_EXTENDED = 0x40;
    public static final int AFLAG_DEVICE = 0x10;
    public static final int AFLAG_ASYNC = 0x02;
    public static final int AFLAG_WRITE = 0x01;

    /** ATA commands served. */
    public static final int ATA_READ_SECTORS = 0x20;
    public static final int ATA_READ_SECTORS_EXT = 0x24;
    public static final int ATA_WRITE_SECTORS = 0x30;
    public static final int ATA_WRITE_SECTORS_EXT = 0x34;
    public static final int ATA_CHECK_POWER_MODE = 0xE5;
    public static final int ATA_FLUSH_CACHE = 0xE7;
    public static final int ATA_FLUSH_CACHE_EXT = 0xEA;
    public static final int ATA_IDENTIFY_DEVICE = 0xEC;

    /** ATA status bits. */
    public static final int STATUS_DRDY = 0x40;
    public static final int STATUS_ERR = 0x01;
    /** ATA error bits. */
    public static final int ERROR_UNC = 0x40;
    public static final int ERROR_IDNF = 0x10;
    public static final int ERROR_ABRT = 0x04;

    public static final long MAX_LBA28 = 0x0FFFFFFFL;
    public static final long MAX_LBA48 = 0xFFFF_FFFF_FFFFL;

    private AoeProtocol() {
    }

    /**
     * Sectors one ATA frame carries on an interface of this MTU (the AoE part of the frame,
     * without the Ethernet header, is at most the MTU); at most 255, the field's width.
     */
    public static int sectorsPerFrame(int mtu) {
        int sectors = (mtu - (ATA_HEADER - ETHERNET_HEADER)) / SECTOR;
        if (sectors < 1) {
            throw new IllegalArgumentException("an MTU of " + mtu + " carries no 512-byte sector in an AoE frame");
        }
        return Math.min(sectors, 255);
    }
}
