package fivenines.block.volume;

import fivenines.block.export.BlockExport;
import fivenines.block.export.Extent;
import fivenines.block.nbd.NbdClient;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.block.nbd.NbdRefusedException;

import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A physical volume on another node, reached through that node's block service over NBD.
 * One connection carries every request (NBD replies may come in any order); a connection that
 * failed is replaced on the next request, so a node that comes back is used again, and a node
 * that is gone fails each request within the timeout instead of hanging it.
 */
public final class RemoteExport implements BlockExport, AutoCloseable {
    private final String host;
    private final int port;
    private final String export;
    private final Duration timeout;
    private final SSLContext tls;
    private final long size;
    private volatile NbdClient client;
    private volatile boolean closed;

    /** @param tls the node's certificate for STARTTLS (block services refuse plain TCP), or null for plain NBD */
    public RemoteExport(String address, String export, Duration timeout, SSLContext tls) throws IOException {
        int colon = address.lastIndexOf(':');
        this.host = address.substring(0, colon);
        this.port = Integer.parseInt(address.substring(colon + 1));
        this.export = export;
        this.timeout = timeout;
        this.tls = tls;
        this.client = connect();
        this.size = client.size();
    }

    /**
     * A guarded export's name carries the writer's epoch, and a block service serves only the volume's
     * current one: a server that does not know the name is refusing an outdated epoch (ESHUTDOWN, so that
     * the engine reads the new epoch and retries), not failing the I/O.
     */
    private NbdClient connect() throws IOException {
        try {
            return NbdClient.connectTcp(host, port, export, timeout, tls);
        } catch (NbdRefusedException e) {
            if (e.unknownExport() && GuardedExport.parse(export) != null) {
                throw new NbdErrorException(NbdProtocol.ESHUTDOWN, e.getMessage()
                    + " (its block service serves another epoch of the volume, or no longer serves the physical volume)");
            }
            throw e;
        }
    }

    private NbdClient client() throws IOException {
        NbdClient current = client;
        if (current.failure() == null) {
            return current;
        }
        synchronized (this) {
            if (closed) {
                throw new NbdErrorException(NbdProtocol.EIO, "the connection to " + host + ":" + port + " is closed");
            }
            if (client.failure() != null) {
                client.close();
                try {
                    client = connect();
                } catch (NbdErrorException e) {
                    throw e;
                } catch (IOException e) {
                    throw new NbdErrorException(NbdProtocol.EIO, e.getMessage());
                }
            }
            return client;
        }
    }

    @Override
    public String name() {
        return export;
    }

    @Override
    public String description() {
        return export + " at " + host + ":" + port;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public boolean readOnly() {
        return false;
    }

    @Override
    public void read(long offset, ByteBuffer target) throws IOException {
        client().read(offset, target);
    }

    @Override
    public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
        client().write(offset, source, fua);
    }

    /** Through the current connection; null while it is broken (the read through {@link #read} reconnects). */
    @Override
    public CompletableFuture<Void> startRead(long offset, ByteBuffer target) {
        NbdClient current = client;
        return closed || current.failure() != null ? null : current.startRead(offset, target);
    }

    @Override
    public CompletableFuture<Void> startWrite(long offset, ByteBuffer source, boolean fua) {
        NbdClient current = client;
        return closed || current.failure() != null ? null : current.startWrite(offset, source, fua);
    }

    @Override
    public void flush() throws IOException {
        client().flush();
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        client().trim(offset, length);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        client().writeZeroes(offset, length, noHole, fua);
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) {
        return List.of(new Extent(length, false, false));
    }

    @Override
    public synchronized void close() {
        closed = true;
        client.close();
    }
}
