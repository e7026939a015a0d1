package fivenines.block.export;

import fivenines.block.nbd.NbdErrorException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * Something the block service serves over NBD: a physical volume, later a logical volume.
 * Offsets are relative to the export. Implementations are called from many threads at once.
 * An operation that must fail with a particular NBD error (ENOSPC on a full pool, EPERM for
 * a writer whose epoch is outdated) throws {@link NbdErrorException}.
 */
public interface BlockExport {

    /** The export name clients ask for. */
    String name();

    /** A line for NBD_INFO_DESCRIPTION. */
    default String description() {
        return "";
    }

    long size();

    boolean readOnly();

    /** Fills {@code target} (its remaining bytes) from {@code offset}. */
    void read(long offset, ByteBuffer target) throws IOException;

    /** Writes {@code source}; with {@code fua} the data is on stable storage before this returns. */
    void write(long offset, ByteBuffer source, boolean fua) throws IOException;

    /** Puts every completed write on stable storage. */
    void flush() throws IOException;

    /** The range may read back as anything afterwards (a hint: space may be freed). */
    void trim(long offset, long length) throws IOException;

    /** The range reads back as zeroes; with {@code noHole} space stays allocated. */
    void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException;

    /** Allocation of a range, as consecutive extents covering at least its start. */
    List<Extent> blockStatus(long offset, long length) throws IOException;

    /** Whether a flush on one connection covers writes completed on every other connection. */
    default boolean canMultiConn() {
        return true;
    }

    /** Whether zeroing can be done without writing data (NBD_CMD_FLAG_FAST_ZERO). */
    default boolean fastZero() {
        return true;
    }
}
