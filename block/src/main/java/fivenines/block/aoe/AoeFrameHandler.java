package fivenines.block.aoe;

import fivenines.block.export.BlockExport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.function.Supplier;

import static fivenines.block.aoe.AoeFrame.*;
import static fivenines.block.aoe.AoeProtocol.*;

/**
 * One AoE target's answer to one frame: which frames it drops, which it answers with an AoE
 * error, and what it does on the export for the others. No network: {@link AoeTarget} feeds it
 * frames read from a raw socket and sends what it returns; tests feed it any bytes at all.
 *
 * <p>Dropped: frames shorter than the AoE header or than their command's header, not of
 * EtherType 0x88A2, responses (the R flag), for another shelf or slot (0xFFFF and 0xFF are
 * everyone's), and any frame from a MAC outside a non-empty Mac Mask List. A Query Config test
 * or test prefix that does not match is dropped too, as the specification says.
 *
 * <p>A write is done on the export without FUA; its reply says {@link Reply#durable()}: the
 * caller must put the write on stable storage (a flush of the export, shared by every write in
 * flight) before it sends the reply, or turn the reply into an error if that fails. A caller
 * that knows no other write is in flight asks for a write-through instead
 * ({@link #handle(byte[], int, boolean)}): the write is done with FUA and its reply may be sent as it is.
 *
 * <p>The config string, the mask list and the reserve list are held here, in memory; changes
 * to them are serialised on this object. ATA commands run concurrently.
 */
public final class AoeFrameHandler {
    public static final int MAX_MASKS = 64;
    public static final int FIRMWARE = 0x0001;

    private final MacAddress mac;
    private final int shelf;
    private final int slot;
    private final int sectorsPerFrame;
    private final int bufferCount;
    private final Supplier<BlockExport> export;
    private final String serial;
    private byte[] config = new byte[0];
    private final LinkedHashSet<MacAddress> masks = new LinkedHashSet<>();
    private List<MacAddress> reserves = List.of();

    /**
     * What to send back: {@code length} bytes (at least 60) of {@code frame}, on the heap, or, for a
     * read when {@link #directReplies} gave a buffer, of {@code prepared}, the sending thread's frame
     * buffer (then {@code frame} is null).
     *
     * @param durable whether the frame was a write done without FUA, whose reply must wait for a flush
     * @param export  the export written, for a write that succeeded; null for every other reply
     */
    public record Reply(byte[] frame, int length, boolean durable, BlockExport export, ByteBuffer prepared) {
        public Reply(byte[] frame, int length, boolean durable, BlockExport export) {
            this(frame, length, durable, export, null);
        }

        /** Whether this answers a write that was done. */
        public boolean wrote() {
            return export != null;
        }

        /** The reply's bytes, wherever they were built (for tests). */
        public byte[] bytes() {
            if (frame != null) {
                return java.util.Arrays.copyOf(frame, length);
            }
            byte[] copy = new byte[length];
            prepared.get(0, copy);
            return copy;
        }
    }

    /** Where read replies are built when not null: the calling thread's send buffer (direct memory). */
    private volatile Supplier<ByteBuffer> directReplies;

    /**
     * Builds each read's reply in the buffer {@code buffers} gives the calling thread (the socket's
     * send buffer), reading the export straight into it: no reply array, no copy into a temporary
     * direct buffer by the file channel, none into the send buffer. The reply must be sent by the
     * thread that asked, before it handles another frame.
     */
    public void directReplies(Supplier<ByteBuffer> buffers) {
        this.directReplies = buffers;
    }

    /**
     * @param export the export served, asked at every ATA command; null while it is not there
     *               (the command fails with the AoE error "device unavailable")
     */
    public AoeFrameHandler(MacAddress mac, int shelf, int slot, int sectorsPerFrame, int bufferCount,
                           Supplier<BlockExport> export) {
        if (shelf < 0 || shelf >= BROADCAST_SHELF) {
            throw new IllegalArgumentException("shelf " + shelf + " is outside 0..65534");
        }
        if (slot < 0 || slot >= BROADCAST_SLOT) {
            throw new IllegalArgumentException("slot " + slot + " is outside 0..254");
        }
        if (sectorsPerFrame < 1 || sectorsPerFrame > 255) {
            throw new IllegalArgumentException("sectors per frame " + sectorsPerFrame + " is outside 1..255");
        }
        this.mac = mac;
        this.shelf = shelf;
        this.slot = slot;
        this.sectorsPerFrame = sectorsPerFrame;
        this.bufferCount = bufferCount;
        this.export = export;
        this.serial = "fivenines e" + shelf + "." + slot;
    }

    public int shelf() {
        return shelf;
    }

    public int slot() {
        return slot;
    }

    public int sectorsPerFrame() {
        return sectorsPerFrame;
    }

    public synchronized byte[] configString() {
        return config.clone();
    }

    public synchronized List<MacAddress> masks() {
        return List.copyOf(masks);
    }

    public synchronized List<MacAddress> reserves() {
        return reserves;
    }

    /** The announcement sent at start-up: an unsolicited Query Config response to everyone. */
    public Reply announcement() {
        byte[] out = new byte[CONFIG_HEADER + MAX_CONFIG_STRING];
        byte[] current = configString();
        putHeader(out, MacAddress.BROADCAST, mac, FLAG_RESPONSE, 0, shelf, slot, CMD_QUERY_CONFIG, 0);
        putConfig(out, bufferCount, FIRMWARE, sectorsPerFrame, CCMD_READ, current);
        return new Reply(out, Math.max(MIN_FRAME, CONFIG_HEADER + current.length), false, null);
    }

    /** The reply to the first {@code length} bytes of {@code in}, or null to drop the frame. */
    public Reply handle(byte[] in, int length) {
        return handle(in, length, false);
    }

    /**
     * As {@link #handle(byte[], int)}; with {@code writeThrough} a write is done with FUA, so that
     * it is on stable storage when this returns and its reply is not {@link Reply#durable()}.
     */
    public Reply handle(byte[] in, int length, boolean writeThrough) {
        if (length < HEADER || length > in.length || etherType(in) != ETHER_TYPE || isResponse(in)) {
            return null;
        }
        int toShelf = AoeFrame.shelf(in);
        int toSlot = AoeFrame.slot(in);
        if ((toShelf != shelf && toShelf != BROADCAST_SHELF) || (toSlot != slot && toSlot != BROADCAST_SLOT)) {
            return null;
        }
        MacAddress from = source(in);
        synchronized (this) {
            if (!masks.isEmpty() && !masks.contains(from)) {
                return null;
            }
        }
        if (version(in) != VERSION) {
            return error(in, from, HEADER, ERR_UNSUPPORTED_VERSION);
        }
        return switch (command(in)) {
            case CMD_ATA -> length < ATA_HEADER ? null : ata(in, length, from, writeThrough);
            case CMD_QUERY_CONFIG -> length < CONFIG_HEADER ? null : queryConfig(in, length, from);
            case CMD_MAC_MASK -> length < MASK_HEADER ? null : macMask(in, length, from);
            case CMD_RESERVE -> length < RESERVE_HEADER ? null : reserve(in, length, from);
            default -> error(in, from, HEADER, ERR_UNRECOGNIZED_COMMAND);
        };
    }

    /** A reply that starts as a copy of the request's first {@code copy} bytes, room for {@code size}. */
    private byte[] replyFrame(byte[] in, MacAddress to, int copy, int size, int flags, int error) {
        byte[] out = new byte[Math.max(MIN_FRAME, size)];
        System.arraycopy(in, 0, out, 0, Math.min(copy, out.length));
        putHeader(out, to, mac, FLAG_RESPONSE | flags, error, shelf, slot, command(in), tag(in));
        return out;
    }

    private Reply error(byte[] in, MacAddress to, int copy, int code) {
        byte[] out = replyFrame(in, to, Math.min(copy, MIN_FRAME), MIN_FRAME, FLAG_ERROR, code);
        return new Reply(out, MIN_FRAME, false, null);
    }

    private Reply ata(byte[] in, int length, MacAddress from, boolean writeThrough) {
        int aflags = ataFlags(in);
        int count = ataSectorCount(in);
        int cmd = ataCommand(in);
        long lba = ataLba(in);
        synchronized (this) {
            if (cmd != ATA_IDENTIFY_DEVICE && !reserves.isEmpty() && !reserves.contains(from)) {
                return error(in, from, ATA_HEADER, ERR_TARGET_RESERVED);
            }
        }
        BlockExport target = export.get();
        if (target == null) {
            return error(in, from, ATA_HEADER, ERR_DEVICE_UNAVAILABLE);
        }
        long sectors = target.size() / SECTOR;
        switch (cmd) {
            case ATA_IDENTIFY_DEVICE -> {
                byte[] out = replyFrame(in, from, ATA_HEADER, ATA_HEADER + SECTOR, 0, 0);
                byte[] id = IdentifyDevice.of(sectors, sectorsPerFrame, serial, "1", model(target));
                System.arraycopy(id, 0, out, ATA_HEADER, SECTOR);
                putAta(out, aflags, 0, 0, STATUS_DRDY, lba);
                return new Reply(out, out.length, false, null);
            }
            case ATA_CHECK_POWER_MODE -> {
                return ataStatus(in, from, aflags, 0xFF, STATUS_DRDY, 0, lba);
            }
            case ATA_FLUSH_CACHE, ATA_FLUSH_CACHE_EXT -> {
                // Every acknowledged write is already stable; the flush is done anyway, for
                // whatever else an export may hold.
                try {
                    if (!target.readOnly()) {
                        target.flush();
                    }
                    return ataStatus(in, from, aflags, 0, STATUS_DRDY, 0, lba);
                } catch (IOException e) {
                    return ataStatus(in, from, aflags, 0, STATUS_DRDY | STATUS_ERR, ERROR_ABRT, lba);
                }
            }
            case ATA_READ_SECTORS, ATA_READ_SECTORS_EXT, ATA_WRITE_SECTORS, ATA_WRITE_SECTORS_EXT -> {
                boolean write = cmd == ATA_WRITE_SECTORS || cmd == ATA_WRITE_SECTORS_EXT;
                boolean extended = cmd == ATA_READ_SECTORS_EXT || cmd == ATA_WRITE_SECTORS_EXT;
                long start = extended ? lba & MAX_LBA48 : lba & MAX_LBA28;
                int bytes = count * SECTOR;
                if (count > sectorsPerFrame || (write && length - ATA_HEADER < bytes)) {
                    return error(in, from, ATA_HEADER, ERR_BAD_ARGUMENT);
                }
                if (start + count > sectors) {
                    return ataStatus(in, from, aflags, count, STATUS_DRDY | STATUS_ERR, ERROR_IDNF, lba);
                }
                if (count == 0) {
                    return ataStatus(in, from, aflags, 0, STATUS_DRDY, 0, lba);
                }
                return write ? write(in, from, aflags, target, start, count, lba, writeThrough)
                    : read(in, from, aflags, target, start, count, lba);
            }
            default -> {
                return ataStatus(in, from, aflags, count, STATUS_DRDY | STATUS_ERR, ERROR_ABRT, lba);
            }
        }
    }

    private Reply read(byte[] in, MacAddress from, int aflags, BlockExport target, long start, int count, long lba) {
        int bytes = count * SECTOR;
        Supplier<ByteBuffer> buffers = directReplies;
        ByteBuffer direct = buffers == null ? null : buffers.get();
        if (direct != null && direct.capacity() >= ATA_HEADER + bytes) {
            try {
                target.read(start * SECTOR, direct.slice(ATA_HEADER, bytes));
            } catch (IOException | RuntimeException e) {
                return ataStatus(in, from, aflags, count, STATUS_DRDY | STATUS_ERR, ERROR_UNC, lba);
            }
            byte[] header = replyFrame(in, from, ATA_HEADER, ATA_HEADER, 0, 0);
            putAta(header, aflags, 0, 0, STATUS_DRDY, lba);
            direct.put(0, header, 0, ATA_HEADER);
            return new Reply(null, ATA_HEADER + bytes, false, null, direct);
        }
        byte[] out = replyFrame(in, from, ATA_HEADER, ATA_HEADER + bytes, 0, 0);
        try {
            target.read(start * SECTOR, ByteBuffer.wrap(out, ATA_HEADER, bytes));
        } catch (IOException | RuntimeException e) {
            return ataStatus(in, from, aflags, count, STATUS_DRDY | STATUS_ERR, ERROR_UNC, lba);
        }
        putAta(out, aflags, 0, 0, STATUS_DRDY, lba);
        return new Reply(out, out.length, false, null);
    }

    private Reply write(byte[] in, MacAddress from, int aflags, BlockExport target, long start, int count, long lba,
                        boolean writeThrough) {
        if (target.readOnly()) {
            return ataStatus(in, from, aflags, count, STATUS_DRDY | STATUS_ERR, ERROR_ABRT, lba);
        }
        try {
            target.write(start * SECTOR, ByteBuffer.wrap(in, ATA_HEADER, count * SECTOR).slice(), writeThrough);
        } catch (IOException | RuntimeException e) {
            // ENOSPC, an outdated epoch (EPERM, ESHUTDOWN) or EIO: the write is refused, never acknowledged
            return ataStatus(in, from, aflags, count, STATUS_DRDY | STATUS_ERR, ERROR_ABRT, lba);
        }
        byte[] out = replyFrame(in, from, ATA_HEADER, ATA_HEADER, 0, 0);
        putAta(out, aflags, 0, 0, STATUS_DRDY, lba);
        return new Reply(out, out.length, !writeThrough, target);
    }

    private Reply ataStatus(byte[] in, MacAddress from, int aflags, int count, int status, int error, long lba) {
        byte[] out = replyFrame(in, from, ATA_HEADER, ATA_HEADER, 0, 0);
        putAta(out, aflags, error, count, status, lba);
        return new Reply(out, out.length, false, null);
    }

    private static String model(BlockExport target) {
        String name = "fivenines " + target.name();
        return name.length() > 40 ? name.substring(0, 40) : name;
    }

    private Reply queryConfig(byte[] in, int length, MacAddress from) {
        int ccmd = configCommand(in);
        int given = configLength(in);
        boolean fits = given <= MAX_CONFIG_STRING && given <= length - CONFIG_HEADER;
        int error = 0;
        byte[] current;
        synchronized (this) {
            byte[] value = fits ? Arrays.copyOfRange(in, CONFIG_HEADER, CONFIG_HEADER + given) : null;
            switch (ccmd) {
                case CCMD_READ -> {
                }
                case CCMD_TEST -> {
                    if (!fits || !Arrays.equals(value, config)) {
                        return null;
                    }
                }
                case CCMD_TEST_PREFIX -> {
                    if (!fits || given > config.length || !Arrays.equals(value, 0, given, config, 0, given)) {
                        return null;
                    }
                }
                case CCMD_SET -> {
                    if (!fits) {
                        error = ERR_BAD_ARGUMENT;
                    } else if (config.length > 0 && !Arrays.equals(value, config)) {
                        error = ERR_CONFIG_STRING_PRESENT;
                    } else {
                        config = value;
                    }
                }
                case CCMD_FORCE_SET -> {
                    if (!fits) {
                        error = ERR_BAD_ARGUMENT;
                    } else {
                        config = value;
                    }
                }
                default -> error = ERR_BAD_ARGUMENT;
            }
            current = config.clone();
        }
        byte[] out = replyFrame(in, from, HEADER, CONFIG_HEADER + current.length, error == 0 ? 0 : FLAG_ERROR, error);
        putConfig(out, bufferCount, FIRMWARE, sectorsPerFrame, ccmd, current);
        return new Reply(out, out.length, false, null);
    }

    private Reply macMask(byte[] in, int length, MacAddress from) {
        int mcmd = maskCommand(in);
        int count = maskCount(in);
        List<MacAddress> list;
        int merror = 0;
        int failedAt = 0;
        synchronized (this) {
            switch (mcmd) {
                case MCMD_READ -> {
                }
                case MCMD_EDIT -> {
                    if (length < MASK_HEADER + count * MASK_DIRECTIVE) {
                        return error(in, from, MASK_HEADER, ERR_BAD_ARGUMENT);
                    }
                    for (int i = 0; i < count && merror == 0; i++) {
                        MacAddress m = directiveMac(in, i);
                        switch (directiveCommand(in, i)) {
                            case DCMD_NONE -> {
                            }
                            case DCMD_ADD -> {
                                if (!masks.contains(m) && masks.size() >= MAX_MASKS) {
                                    merror = MERROR_LIST_FULL;
                                    failedAt = i;
                                } else {
                                    masks.add(m);
                                }
                            }
                            case DCMD_DELETE -> masks.remove(m);
                            default -> {
                                merror = MERROR_BAD_DIRECTIVE;
                                failedAt = i;
                            }
                        }
                    }
                }
                default -> {
                    return error(in, from, MASK_HEADER, ERR_BAD_ARGUMENT);
                }
            }
            list = new ArrayList<>(masks);
        }
        if (merror != 0) {
            // the directive that failed is named by its index; the ones before it stand
            byte[] out = replyFrame(in, from, MASK_HEADER, MASK_HEADER, 0, 0);
            out[HEADER + 2] = (byte) merror;
            out[HEADER + 3] = (byte) failedAt;
            return new Reply(out, out.length, false, null);
        }
        byte[] out = replyFrame(in, from, MASK_HEADER, MASK_HEADER + list.size() * MASK_DIRECTIVE, 0, 0);
        out[HEADER] = 0;
        out[HEADER + 1] = (byte) mcmd;
        out[HEADER + 2] = 0;
        out[HEADER + 3] = (byte) list.size();
        for (int i = 0; i < list.size(); i++) {
            putDirective(out, i, DCMD_NONE, list.get(i));
        }
        return new Reply(out, out.length, false, null);
    }

    private Reply reserve(byte[] in, int length, MacAddress from) {
        int rcmd = reserveCommand(in);
        int count = reserveCount(in);
        List<MacAddress> list;
        synchronized (this) {
            switch (rcmd) {
                case RCMD_READ -> {
                }
                case RCMD_SET, RCMD_FORCE_SET -> {
                    if (rcmd == RCMD_SET && !reserves.isEmpty() && !reserves.contains(from)) {
                        return error(in, from, RESERVE_HEADER, ERR_TARGET_RESERVED);
                    }
                    if (length < RESERVE_HEADER + count * 6) {
                        return error(in, from, RESERVE_HEADER, ERR_BAD_ARGUMENT);
                    }
                    var set = new LinkedHashSet<MacAddress>();
                    for (int i = 0; i < count; i++) {
                        set.add(reserveMac(in, i));
                    }
                    reserves = List.copyOf(set);
                }
                default -> {
                    return error(in, from, RESERVE_HEADER, ERR_BAD_ARGUMENT);
                }
            }
            list = reserves;
        }
        byte[] out = replyFrame(in, from, RESERVE_HEADER, RESERVE_HEADER + list.size() * 6, 0, 0);
        out[HEADER] = (byte) rcmd;
        out[HEADER + 1] = (byte) list.size();
        for (int i = 0; i < list.size(); i++) {
            list.get(i).write(out, RESERVE_HEADER + i * 6);
        }
        return new Reply(out, out.length, false, null);
    }
}
