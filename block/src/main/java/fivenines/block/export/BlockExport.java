package fivenines.block.export;

import fivenines.block.nbd.NbdErrorException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Something the block service serves over NBD: a physical volume, later a logical volume.
 *
 * <p>Offsets are relative to the export. The server has checked every range before calling
 * (inside the export, length above zero, payload within its limit), and calls from many
 * threads at once, also for overlapping ranges: an implementation serialises what it must.
 * Buffers may be direct; an operation reads or fills exactly their remaining bytes.
 *
 * <p>An operation that must fail with a particular NBD error throws {@link NbdErrorException}
 * with one of the errno values in {@link fivenines.block.nbd.NbdProtocol} (ENOSPC on a full
 * pool, EPERM or ESHUTDOWN for a writer whose epoch is outdated); any other IOException
 * reaches the client as EIO. Only the failing request fails: the connection goes on.
 */
public interface BlockExport {

    /** The export name clients ask for (at most 4096 bytes of UTF-8). */
    String name();

    /** A line for NBD_INFO_DESCRIPTION. */
    default String description() {
        return "";
    }

    /** Size in bytes; fixed for the life of a connection. */
    long size();

    /** Whether writes, trims and zeroing are refused (with EPERM, before they reach the export). */
    boolean readOnly();

    /** Fills {@code target} (its remaining bytes) from {@code offset}. */
    void read(long offset, ByteBuffer target) throws IOException;

    /** Writes {@code source}; with {@code fua} the data is on stable storage before this returns. */
    void write(long offset, ByteBuffer source, boolean fua) throws IOException;

    /**
     * Starts a read that waits on the network and returns without waiting for it: the future
     * completes, on whatever thread got the answer, once {@code target}'s remaining bytes are filled.
     * Null when the export cannot do so for this request (the caller then calls {@link #read}). A
     * future that fails says only that this try did not succeed: the caller serves the request again
     * through {@link #read}, which retries, reconnects or reports as it always does. What completes the
     * future must not block: it runs on the thread that reads a connection's replies.
     */
    default CompletableFuture<Void> startRead(long offset, ByteBuffer target) {
        return null;
    }

    /**
     * Starts a write as {@link #startRead} starts a read; a future that fails is served again
     * through {@link #write} (writing the same bytes twice to the same place is harmless).
     */
    default CompletableFuture<Void> startWrite(long offset, ByteBuffer source, boolean fua) {
        return null;
    }

    /** Puts every completed write on stable storage. */
    void flush() throws IOException;

    /** The range may read back as anything afterwards (a hint: space may be freed). */
    void trim(long offset, long length) throws IOException;

    /** The range reads back as zeroes; with {@code noHole} space stays allocated. */
    void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException;

    /**
     * Allocation of a range, as consecutive extents from {@code offset} covering at least its
     * first byte; extents may end short of the range or run past it (the server trims them).
     */
    List<Extent> blockStatus(long offset, long length) throws IOException;

    /**
     * Whether READs and WRITEs without FUA complete from memory (a page cache), so that the
     * server may serve a small one on the thread that received it rather than hand it off.
     * Serving in place holds back every request behind it on the connection, so an export whose
     * requests may wait on the network or on another node (a mirrored volume) keeps the default.
     */
    default boolean servesFromMemory() {
        return false;
    }

    /** Whether a flush on one connection covers writes completed on every other connection. */
    default boolean canMultiConn() {
        return true;
    }

    /** Whether zeroing can be done without writing data (NBD_CMD_FLAG_FAST_ZERO). */
    default boolean fastZero() {
        return true;
    }

    /** Smallest request size that works (NBD_INFO_BLOCK_SIZE minimum); 1 means any. */
    default int minimumBlockSize() {
        return 1;
    }

    /** Request size that avoids read-modify-write inside the export. */
    default int preferredBlockSize() {
        return 4096;
    }

    /** Largest READ or WRITE the export takes; the server advertises the smaller of this and its own limit. */
    default int maximumBlockSize() {
        return 32 << 20;
    }
}
