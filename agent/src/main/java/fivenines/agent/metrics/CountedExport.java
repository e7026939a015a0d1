package fivenines.agent.metrics;

import fivenines.block.export.BlockExport;
import fivenines.block.export.Extent;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A volume's export as the NBD server serves it, counting each request into the volume's
 * {@link VolumeIo}: two clock reads and a few {@code LongAdder} adds per request, no lock, no
 * allocation. Everything else passes through to the export behind it.
 */
public final class CountedExport implements BlockExport {
    private final BlockExport export;
    private final VolumeIo io;

    public CountedExport(BlockExport export, VolumeIo io) {
        this.export = export;
        this.io = io;
    }

    /** The export behind the counters. */
    public BlockExport export() {
        return export;
    }

    public VolumeIo io() {
        return io;
    }

    @Override
    public void read(long offset, ByteBuffer target) throws IOException {
        int length = target.remaining();
        long started = System.nanoTime();
        try {
            export.read(offset, target);
        } catch (IOException | RuntimeException e) {
            io.failed(VolumeIo.Op.READ, System.nanoTime() - started);
            throw e;
        }
        io.completed(VolumeIo.Op.READ, length, System.nanoTime() - started);
    }

    @Override
    public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
        int length = source.remaining();
        long started = System.nanoTime();
        try {
            export.write(offset, source, fua);
        } catch (IOException | RuntimeException e) {
            io.failed(VolumeIo.Op.WRITE, System.nanoTime() - started);
            throw e;
        }
        io.completed(VolumeIo.Op.WRITE, length, System.nanoTime() - started);
    }

    @Override
    public void flush() throws IOException {
        long started = System.nanoTime();
        try {
            export.flush();
        } catch (IOException | RuntimeException e) {
            io.failed(VolumeIo.Op.FLUSH, System.nanoTime() - started);
            throw e;
        }
        io.completed(VolumeIo.Op.FLUSH, 0, System.nanoTime() - started);
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        long started = System.nanoTime();
        try {
            export.trim(offset, length);
        } catch (IOException | RuntimeException e) {
            io.failed(VolumeIo.Op.TRIM, System.nanoTime() - started);
            throw e;
        }
        io.completed(VolumeIo.Op.TRIM, length, System.nanoTime() - started);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        long started = System.nanoTime();
        try {
            export.writeZeroes(offset, length, noHole, fua);
        } catch (IOException | RuntimeException e) {
            io.failed(VolumeIo.Op.ZERO, System.nanoTime() - started);
            throw e;
        }
        io.completed(VolumeIo.Op.ZERO, length, System.nanoTime() - started);
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        return export.blockStatus(offset, length);
    }

    @Override
    public String name() {
        return export.name();
    }

    @Override
    public String description() {
        return export.description();
    }

    @Override
    public long size() {
        return export.size();
    }

    @Override
    public boolean readOnly() {
        return export.readOnly();
    }

    @Override
    public boolean servesFromMemory() {
        return export.servesFromMemory();
    }

    @Override
    public boolean canMultiConn() {
        return export.canMultiConn();
    }

    @Override
    public boolean fastZero() {
        return export.fastZero();
    }

    @Override
    public int minimumBlockSize() {
        return export.minimumBlockSize();
    }

    @Override
    public int preferredBlockSize() {
        return export.preferredBlockSize();
    }

    @Override
    public int maximumBlockSize() {
        return export.maximumBlockSize();
    }
}
