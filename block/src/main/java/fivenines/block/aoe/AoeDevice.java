package fivenines.block.aoe;

import fivenines.block.export.BlockExport;
import fivenines.block.export.Extent;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * A window of a remote AoE device served as an export, over an {@link AoeInitiator} it owns:
 * a physical volume's data area (after its label) or, with base 0, the whole device.
 *
 * <p>AoE moves whole 512-byte sectors, while an export is asked for any byte range (the volume
 * engine passes a guest's NBD requests through, and NBD allows bytes). A write that starts or
 * ends inside a sector reads the sectors it touches, changes its bytes and writes them back
 * (read-modify-write), holding those sectors against every other write meanwhile, so that two
 * writes to different bytes of one sector both land; aligned writes only wait for such a
 * read-modify-write of their own sectors. Reads of parts of sectors read the whole sectors.
 *
 * <p>Durability: a write is acknowledged by the target once it has it; {@link #flush} (and FUA)
 * sends FLUSH CACHE EXT. Whether the target's acknowledgement already means stable storage is
 * the target's affair (vblade with {@code -s}, fivenines' own target); the flush is sent anyway.
 * Trim is a hint and does nothing; zeroing writes zeroes.
 */
public final class AoeDevice implements BlockExport, AutoCloseable {
    private static final int SECTOR = AoeProtocol.SECTOR;
    /** The most one request to the initiator carries (a longer one is cut in pieces). */
    private static final int PIECE = 1 << 20;
    private final String name;
    private final String description;
    private final AoeInitiator initiator;
    private final long base;
    private final long size;
    private final SectorLocks locks = new SectorLocks();

    /**
     * @param base bytes from the device's start (a multiple of 512) where the export begins
     * @param size bytes of the export; base + size must fit the device
     */
    public AoeDevice(String name, String description, AoeInitiator initiator, long base, long size) {
        long capacity = initiator.sectors() * SECTOR;
        if (base < 0 || base % SECTOR != 0 || size < 0 || base + size > capacity) {
            throw new IllegalArgumentException("bytes " + base + "+" + size + " do not fit e" + initiator.shelf() + "."
                + initiator.slot() + " (" + capacity + " bytes) on sector boundaries");
        }
        this.name = name;
        this.description = description;
        this.initiator = initiator;
        this.base = base;
        this.size = size;
    }

    /** The whole device. */
    public static AoeDevice whole(String name, AoeInitiator initiator) {
        return new AoeDevice(name, "AoE e" + initiator.shelf() + "." + initiator.slot() + " on " + initiator.interfaceName(),
            initiator, 0, initiator.sectors() * SECTOR);
    }

    public AoeInitiator initiator() {
        return initiator;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public boolean readOnly() {
        return false;
    }

    private void check(long offset, long length) throws IOException {
        if (offset < 0 || length < 0 || offset + length > size) {
            throw new IOException("bytes " + offset + "+" + length + " are outside " + name + " (" + size + " bytes)");
        }
    }

    @Override
    public void read(long offset, ByteBuffer target) throws IOException {
        check(offset, target.remaining());
        while (target.hasRemaining()) {
            int n = Math.min(target.remaining(), PIECE);
            long at = base + offset;
            long first = at / SECTOR;
            long end = (at + n + SECTOR - 1) / SECTOR;
            byte[] sectors = new byte[(int) (end - first) * SECTOR];
            initiator.read(first, (int) (end - first), sectors, 0);
            target.put(sectors, (int) (at - first * SECTOR), n);
            offset += n;
        }
    }

    @Override
    public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
        check(offset, source.remaining());
        while (source.hasRemaining()) {
            int n = Math.min(source.remaining(), PIECE);
            writePiece(base + offset, source, n);
            offset += n;
        }
        if (fua) {
            initiator.flush();
        }
    }

    /** Writes the next {@code n} bytes of {@code source} at device byte {@code at}. */
    private void writePiece(long at, ByteBuffer source, int n) throws IOException {
        long first = at / SECTOR;
        long end = (at + n + SECTOR - 1) / SECTOR;
        int count = (int) (end - first);
        boolean aligned = at % SECTOR == 0 && n % SECTOR == 0;
        byte[] sectors = new byte[count * SECTOR];
        try (var held = locks.hold(first, end, !aligned)) {
            // only the partial sectors at either end are read; the ones between are overwritten whole
            boolean head = at % SECTOR != 0;
            boolean tail = (at + n) % SECTOR != 0;
            if (head) {
                initiator.read(first, 1, sectors, 0);
            }
            if (tail && (count > 1 || !head)) {
                initiator.read(end - 1, 1, sectors, (count - 1) * SECTOR);
            }
            source.get(sectors, (int) (at - first * SECTOR), n);
            initiator.write(first, count, sectors, 0);
        }
    }

    @Override
    public void flush() throws IOException {
        initiator.flush();
    }

    /** A hint: nothing is freed on an AoE device. */
    @Override
    public void trim(long offset, long length) throws IOException {
        check(offset, length);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        check(offset, length);
        var zeroes = ByteBuffer.allocate((int) Math.min(PIECE, length));
        long done = 0;
        while (done < length) {
            zeroes.clear().limit((int) Math.min(zeroes.capacity(), length - done));
            write(offset + done, zeroes, false);
            done += zeroes.limit();
        }
        if (fua) {
            initiator.flush();
        }
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) {
        var extents = new ArrayList<Extent>();
        extents.add(new Extent(length, false, false));
        return extents;
    }

    @Override
    public boolean fastZero() {
        return false;
    }

    @Override
    public int preferredBlockSize() {
        return 4096;
    }

    @Override
    public void close() {
        initiator.close();
    }

    /**
     * Ranges of sectors held by writes: a read-modify-write holds its sectors alone, aligned
     * writes share theirs with each other but not with a read-modify-write.
     */
    static final class SectorLocks {
        private final List<Held> held = new ArrayList<>();

        final class Held implements AutoCloseable {
            final long first;
            final long end;
            final boolean exclusive;

            Held(long first, long end, boolean exclusive) {
                this.first = first;
                this.end = end;
                this.exclusive = exclusive;
            }

            boolean conflicts(long otherFirst, long otherEnd, boolean otherExclusive) {
                return (exclusive || otherExclusive) && first < otherEnd && otherFirst < end;
            }

            @Override
            public void close() {
                synchronized (SectorLocks.this) {
                    held.remove(this);
                    SectorLocks.this.notifyAll();
                }
            }
        }

        synchronized Held hold(long first, long end, boolean exclusive) throws IOException {
            while (held.stream().anyMatch(h -> h.conflicts(first, end, exclusive))) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", e);
                }
            }
            var h = new Held(first, end, exclusive);
            held.add(h);
            return h;
        }

        synchronized int size() {
            return held.size();
        }
    }
}
