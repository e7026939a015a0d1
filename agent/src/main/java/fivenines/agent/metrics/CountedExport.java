package fivenines.agent.metrics;

import fivenines.block.export.BlockExport;
import fivenines.block.export.ForwardingExport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * A volume's export as the NBD server serves it, counting each request into the volume's
 * {@link VolumeIo}: two clock reads and a few {@code LongAdder} adds per request, no lock, no
 * allocation. Everything else passes through to the export behind it.
 */
public final class CountedExport extends ForwardingExport {
    private final VolumeIo io;

    public CountedExport(BlockExport export, VolumeIo io) {
        super(export);
        this.io = io;
    }

    /** The export behind the counters. */
    public BlockExport export() {
        return delegate;
    }

    public VolumeIo io() {
        return io;
    }

    @Override
    public void read(long offset, ByteBuffer target) throws IOException {
        int length = target.remaining();
        long started = System.nanoTime();
        try {
            delegate.read(offset, target);
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
            delegate.write(offset, source, fua);
        } catch (IOException | RuntimeException e) {
            io.failed(VolumeIo.Op.WRITE, System.nanoTime() - started);
            throw e;
        }
        io.completed(VolumeIo.Op.WRITE, length, System.nanoTime() - started);
    }

    /** Counted when it completes; one that fails is not: the server serves it again through {@link #read}, which counts it. */
    @Override
    public CompletableFuture<Void> startRead(long offset, ByteBuffer target) {
        return counted(VolumeIo.Op.READ, target.remaining(), delegate.startRead(offset, target));
    }

    @Override
    public CompletableFuture<Void> startWrite(long offset, ByteBuffer source, boolean fua) {
        return counted(VolumeIo.Op.WRITE, source.remaining(), delegate.startWrite(offset, source, fua));
    }

    private CompletableFuture<Void> counted(VolumeIo.Op op, int length, CompletableFuture<Void> started) {
        if (started == null) {
            return null;
        }
        long start = System.nanoTime();
        return started.whenComplete((done, failure) -> {
            if (failure == null) {
                io.completed(op, length, System.nanoTime() - start);
            }
        });
    }

    @Override
    public void flush() throws IOException {
        long started = System.nanoTime();
        try {
            delegate.flush();
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
            delegate.trim(offset, length);
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
            delegate.writeZeroes(offset, length, noHole, fua);
        } catch (IOException | RuntimeException e) {
            io.failed(VolumeIo.Op.ZERO, System.nanoTime() - started);
            throw e;
        }
        io.completed(VolumeIo.Op.ZERO, length, System.nanoTime() - started);
    }
}
