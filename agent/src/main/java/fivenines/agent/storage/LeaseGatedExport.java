package fivenines.agent.storage;

import fivenines.block.export.BlockExport;
import fivenines.block.export.ForwardingExport;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.manager.lease.WriteGate;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * A volume engine as this node's NBD server serves it, acknowledging writes, zeroes, trims and
 * flushes only while the node holds its lease ({@link WriteGate}). The gate is asked before the
 * request reaches the engine and again before it is acknowledged, so no request is acknowledged
 * once the lease stopped: a request that was under way then fails with ESHUTDOWN (it may or may
 * not be on the legs, like any write that was not acknowledged). Reads are served either way.
 */
final class LeaseGatedExport extends ForwardingExport {
    private final WriteGate gate;

    LeaseGatedExport(BlockExport engine, WriteGate gate) {
        super(engine);
        this.gate = gate;
    }

    /** The engine behind the gate. */
    BlockExport engine() {
        return delegate;
    }

    private void requireLease(String what) throws NbdErrorException {
        String refusal = gate.refusal();
        if (refusal != null) {
            throw new NbdErrorException(NbdProtocol.ESHUTDOWN, delegate.name() + ": " + what + " not acknowledged: this node"
                + " holds no lease (" + refusal + "); its HA guests may run elsewhere soon");
        }
    }

    @Override
    public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
        requireLease("write");
        delegate.write(offset, source, fua);
        requireLease("write");
    }

    /** Reads are served either way. */
    @Override
    public CompletableFuture<Void> startRead(long offset, ByteBuffer target) {
        return delegate.startRead(offset, target);
    }

    /**
     * Started only while the lease is held, and completed only if it is still held at the answer;
     * otherwise the future fails and the server serves the write again through {@link #write},
     * which refuses it (ESHUTDOWN).
     */
    @Override
    public CompletableFuture<Void> startWrite(long offset, ByteBuffer source, boolean fua) {
        if (gate.refusal() != null) {
            return null;
        }
        CompletableFuture<Void> started = delegate.startWrite(offset, source, fua);
        if (started == null) {
            return null;
        }
        return started.thenCompose(done -> gate.refusal() == null ? started
            : CompletableFuture.failedFuture(new NbdErrorException(NbdProtocol.ESHUTDOWN, delegate.name() + ": the lease stopped")));
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        requireLease("write zeroes");
        delegate.writeZeroes(offset, length, noHole, fua);
        requireLease("write zeroes");
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        requireLease("trim");
        delegate.trim(offset, length);
        requireLease("trim");
    }

    @Override
    public void flush() throws IOException {
        requireLease("flush");
        delegate.flush();
        requireLease("flush");
    }
}
