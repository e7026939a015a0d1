package fivenines.block.aoe;

import fivenines.block.export.BlockExport;
import fivenines.block.export.Extent;
import fivenines.block.nbd.NbdErrorException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** An export in memory that records every call outside its range (which must never come) and can be made to fail. */
final class MemoryExport implements BlockExport {
    final byte[] data;
    final boolean readOnly;
    final AtomicInteger outside = new AtomicInteger();
    final AtomicInteger flushes = new AtomicInteger();
    final AtomicInteger writes = new AtomicInteger();
    volatile int failWritesWith;   // an errno for NbdErrorException, 0 for none
    volatile boolean failFlush;

    MemoryExport(int size, boolean readOnly) {
        this.data = new byte[size];
        this.readOnly = readOnly;
    }

    @Override
    public String name() {
        return "mem";
    }

    @Override
    public long size() {
        return data.length;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    private void check(long offset, int length) {
        if (offset < 0 || length <= 0 || offset + length > data.length) {
            outside.incrementAndGet();
            throw new IllegalStateException("outside the export: " + offset + "+" + length);
        }
    }

    @Override
    public synchronized void read(long offset, ByteBuffer target) {
        check(offset, target.remaining());
        target.put(data, (int) offset, target.remaining());
    }

    @Override
    public synchronized void write(long offset, ByteBuffer source, boolean fua) throws IOException {
        check(offset, source.remaining());
        if (readOnly) {
            outside.incrementAndGet();
            throw new IllegalStateException("a write reached a read-only export");
        }
        if (failWritesWith != 0) {
            throw new NbdErrorException(failWritesWith, "refused");
        }
        writes.incrementAndGet();
        source.get(data, (int) offset, source.remaining());
    }

    @Override
    public void flush() throws IOException {
        flushes.incrementAndGet();
        if (failFlush) {
            throw new IOException("flush failed");
        }
    }

    @Override
    public void trim(long offset, long length) {
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) {
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) {
        return List.of();
    }
}
