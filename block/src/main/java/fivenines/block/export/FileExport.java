package fivenines.block.export;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * A window of a file or block device served as an export: a physical volume's data area
 * (after its label), or a whole file. Writes go through the page cache; a flush forces them to
 * stable storage (fdatasync) before it is acknowledged. A FUA write goes through a second
 * descriptor opened O_DSYNC: one system call that syncs the range written, where a write and an
 * fdatasync are two and sync every dirty page of the file. A FUA write makes only its own range
 * durable (NBD's meaning of FUA); callers that need earlier writes durable send a flush.
 */
public final class FileExport implements BlockExport, AutoCloseable {
    private static final int ZERO_CHUNK = 1 << 20;
    private final String name;
    private final String description;
    private final Path path;
    private final long base;
    private final long size;
    private final boolean readOnly;
    private final FileChannel channel;
    /** The same file opened O_DSYNC, for FUA writes; null when read-only. */
    private final FileChannel writeThrough;
    private final int fd;
    private final boolean regularFile;

    public FileExport(String name, String description, Path path, long base, long size, boolean readOnly) throws IOException {
        this.name = name;
        this.description = description;
        this.path = path;
        this.base = base;
        this.size = size;
        this.readOnly = readOnly;
        this.channel = readOnly ? FileChannel.open(path, StandardOpenOption.READ)
            : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileChannel through = null;
        try {
            through = readOnly ? null : FileChannel.open(path, StandardOpenOption.WRITE, StandardOpenOption.DSYNC);
            this.fd = NativeFiles.open(path, !readOnly);
        } catch (IOException | RuntimeException e) {
            channel.close();
            if (through != null) {
                through.close();
            }
            throw e;
        }
        this.writeThrough = through;
        this.regularFile = Files.isRegularFile(path);
    }

    /** A whole file or block device as an export. */
    public static FileExport wholeFile(String name, Path path, boolean readOnly) throws IOException {
        // Files.size says 0 for a block device; the channel asks the device
        long size;
        try (var channel = FileChannel.open(path, StandardOpenOption.READ)) {
            size = channel.size();
        }
        return new FileExport(name, path.toString(), path, 0, size, readOnly);
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
        return readOnly;
    }

    @Override
    public void read(long offset, ByteBuffer target) throws IOException {
        long position = base + offset;
        while (target.hasRemaining()) {
            int n = channel.read(target, position);
            if (n < 0) {
                // past the end of a file shorter than its window: reads as zeroes
                while (target.hasRemaining()) {
                    target.put((byte) 0);
                }
                return;
            }
            position += n;
        }
    }

    @Override
    public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
        long position = base + offset;
        FileChannel through = fua ? writeThrough : channel;
        while (source.hasRemaining()) {
            position += through.write(source, position);
        }
    }

    @Override
    public void flush() throws IOException {
        channel.force(false);
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        if (regularFile) {
            NativeFiles.punchHole(fd, base + offset, length);
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        if (noHole || !regularFile || !NativeFiles.punchHole(fd, base + offset, length)) {
            var zeroes = ByteBuffer.allocate((int) Math.min(ZERO_CHUNK, length));
            long done = 0;
            while (done < length) {
                zeroes.clear().limit((int) Math.min(zeroes.capacity(), length - done));
                write(offset + done, zeroes, false);
                done += zeroes.limit();
            }
        }
        if (fua) {
            channel.force(false);
        }
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        var extents = new ArrayList<Extent>();
        if (!regularFile) {
            extents.add(new Extent(length, false, false));
            return extents;
        }
        long position = base + offset;
        long end = base + offset + length;
        while (position < end) {
            long data = NativeFiles.seek(fd, position, NativeFiles.SEEK_DATA);
            if (data < 0 || data >= end) {
                extents.add(new Extent(end - position, true, true));
                break;
            }
            if (data > position) {
                extents.add(new Extent(data - position, true, true));
                position = data;
            }
            long hole = NativeFiles.seek(fd, position, NativeFiles.SEEK_HOLE);
            long dataEnd = hole < 0 ? end : Math.min(hole, end);
            extents.add(new Extent(dataEnd - position, false, false));
            position = dataEnd;
        }
        return extents;
    }

    /** Buffered I/O: mostly page-cache copies (the server's moving average notices when it is not). */
    @Override
    public boolean servesFromMemory() {
        return true;
    }

    /** Zeroing is fast where holes can be punched; on a block device it writes zeroes. */
    @Override
    public boolean fastZero() {
        return regularFile;
    }

    @Override
    public void close() throws IOException {
        channel.close();
        if (writeThrough != null) {
            writeThrough.close();
        }
        NativeFiles.close(fd);
    }
}
