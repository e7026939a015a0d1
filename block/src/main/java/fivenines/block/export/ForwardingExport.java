package fivenines.block.export;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * An export that passes every call to the export behind it: the base of the wrappers the block
 * service stacks on a volume's engine (a lease gate, request counters, a leg's answer clock),
 * each overriding only what it changes. A wrapper that adds a method to {@link BlockExport}
 * then forwards it without being touched.
 */
public abstract class ForwardingExport implements BlockExport {
    protected final BlockExport delegate;

    protected ForwardingExport(BlockExport delegate) {
        this.delegate = java.util.Objects.requireNonNull(delegate, "delegate");
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public String description() {
        return delegate.description();
    }

    @Override
    public long size() {
        return delegate.size();
    }

    @Override
    public boolean readOnly() {
        return delegate.readOnly();
    }

    @Override
    public void read(long offset, ByteBuffer target) throws IOException {
        delegate.read(offset, target);
    }

    @Override
    public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
        delegate.write(offset, source, fua);
    }

    /**
     * Not forwarded: a wrapper that checks or counts requests would not see a request started this
     * way, so each wrapper that lets them through overrides these itself.
     */
    @Override
    public CompletableFuture<Void> startRead(long offset, ByteBuffer target) {
        return null;
    }

    /** Not forwarded, as {@link #startRead}. */
    @Override
    public CompletableFuture<Void> startWrite(long offset, ByteBuffer source, boolean fua) {
        return null;
    }

    @Override
    public void flush() throws IOException {
        delegate.flush();
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        delegate.trim(offset, length);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        delegate.writeZeroes(offset, length, noHole, fua);
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        return delegate.blockStatus(offset, length);
    }

    @Override
    public boolean servesFromMemory() {
        return delegate.servesFromMemory();
    }

    @Override
    public boolean canMultiConn() {
        return delegate.canMultiConn();
    }

    @Override
    public boolean fastZero() {
        return delegate.fastZero();
    }

    @Override
    public int minimumBlockSize() {
        return delegate.minimumBlockSize();
    }

    @Override
    public int preferredBlockSize() {
        return delegate.preferredBlockSize();
    }

    @Override
    public int maximumBlockSize() {
        return delegate.maximumBlockSize();
    }
}
