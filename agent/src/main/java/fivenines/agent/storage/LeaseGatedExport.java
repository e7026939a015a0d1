package fivenines.agent.storage;

import fivenines.block.export.BlockExport;
import fivenines.block.export.Extent;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.manager.lease.WriteGate;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A volume engine as this node's NBD server serves it, acknowledging writes, zeroes, trims and
 * flushes only while the node holds its lease ({@link WriteGate}). The gate is asked before the
 * request reaches the engine and again before it is acknowledged, so no request is acknowledged
 * once the lease stopped: a request that was under way then fails with ESHUTDOWN (it may or may
 * not be on the legs, like any write that was not acknowledged). Reads are served either way.
 */
final class LeaseGatedExport implements BlockExport {
    private final BlockExport engine;
    private final WriteGate gate;

    LeaseGatedExport(BlockExport engine, WriteGate gate) {
        this.engine = engine;
        this.gate = gate;
    }

    /** The engine behind the gate. */
    BlockExport engine() {
        return engine;
    }

    private void requireLease(String what) throws NbdErrorException {
        String refusal = gate.refusal();
        if (refusal != null) {
            throw new NbdErrorException(NbdProtocol.ESHUTDOWN, engine.name() + ": " + what + " not acknowledged: this node"
                + " holds no lease (" + refusal + "); its HA guests may run elsewhere soon");
        }
    }

    @Override
    public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
        requireLease("write");
        engine.write(offset, source, fua);
        requireLease("write");
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        requireLease("write zeroes");
        engine.writeZeroes(offset, length, noHole, fua);
        requireLease("write zeroes");
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        requireLease("trim");
        engine.trim(offset, length);
        requireLease("trim");
    }

    @Override
    public void flush() throws IOException {
        requireLease("flush");
        engine.flush();
        requireLease("flush");
    }

    @Override
    public void read(long offset, ByteBuffer target) throws IOException {
        engine.read(offset, target);
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        return engine.blockStatus(offset, length);
    }

    @Override
    public String name() {
        return engine.name();
    }

    @Override
    public String description() {
        return engine.description();
    }

    @Override
    public long size() {
        return engine.size();
    }

    @Override
    public boolean readOnly() {
        return engine.readOnly();
    }

    @Override
    public boolean servesFromMemory() {
        return engine.servesFromMemory();
    }

    @Override
    public boolean canMultiConn() {
        return engine.canMultiConn();
    }

    @Override
    public boolean fastZero() {
        return engine.fastZero();
    }

    @Override
    public int minimumBlockSize() {
        return engine.minimumBlockSize();
    }

    @Override
    public int preferredBlockSize() {
        return engine.preferredBlockSize();
    }

    @Override
    public int maximumBlockSize() {
        return engine.maximumBlockSize();
    }
}
