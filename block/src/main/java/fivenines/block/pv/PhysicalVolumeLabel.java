package fivenines.block.pv;

import fivenines.block.export.BlockExport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The label at the start of a physical volume: who it is, its extent size and where its
 * data area starts. The data area begins at {@link #DATA_OFFSET} (1 MiB, so extents stay
 * aligned for O_DIRECT and for RAID stripes below).
 *
 * <pre>
 * offset size  field
 *      0   16  magic "FIVENINES-PV\0\0\0\0"
 *     16    4  format version (1)
 *     20   36  UUID, ASCII
 *     56    8  extent size, bytes
 *     64    8  data offset, bytes
 *     72    8  data size, bytes
 *     80    4  CRC32C of bytes 0..79
 * </pre>
 */
public record PhysicalVolumeLabel(UUID id, long extentSize, long dataOffset, long dataSize) {
    public static final int LABEL_SIZE = 4096;
    public static final long DATA_OFFSET = 1L << 20;
    public static final int FORMAT_VERSION = 1;
    private static final byte[] MAGIC = "FIVENINES-PV\0\0\0\0".getBytes(StandardCharsets.US_ASCII);

    ByteBuffer encode() {
        var buffer = ByteBuffer.allocate(LABEL_SIZE);
        buffer.put(MAGIC).putInt(FORMAT_VERSION).put(id.toString().getBytes(StandardCharsets.US_ASCII))
            .putLong(extentSize).putLong(dataOffset).putLong(dataSize);
        var crc = new CRC32C();
        crc.update(buffer.array(), 0, 80);
        buffer.putInt((int) crc.getValue());
        return buffer.position(0);
    }

    /** Reads the label of a file or device; empty if it carries none. */
    public static Optional<PhysicalVolumeLabel> read(Path path) throws IOException {
        try (var channel = FileChannel.open(path, StandardOpenOption.READ)) {
            var buffer = ByteBuffer.allocate(LABEL_SIZE);
            while (buffer.hasRemaining() && channel.read(buffer, buffer.position()) > 0) {
                // keep reading until the label is complete or the file ends
            }
            return decode(buffer.array(), path);
        }
    }

    /** Reads the label at the start of a device reached as an export (an AoE device); empty if it carries none. */
    public static Optional<PhysicalVolumeLabel> read(BlockExport device) throws IOException {
        var buffer = ByteBuffer.allocate(LABEL_SIZE);
        device.read(0, buffer);
        return decode(buffer.array(), device.description().isEmpty() ? device.name() : device.description());
    }

    /** Writes the label at the start of a device reached as an export, then flushes it. */
    public void write(BlockExport device) throws IOException {
        device.write(0, encode(), false);
        device.flush();
    }

    /** Overwrites the label area of a device reached as an export with zeroes, then flushes it. */
    public static void wipe(BlockExport device) throws IOException {
        device.write(0, ByteBuffer.allocate(LABEL_SIZE), false);
        device.flush();
    }

    static Optional<PhysicalVolumeLabel> decode(byte[] bytes, Path path) throws IOException {
        return decode(bytes, path.toString());
    }

    static Optional<PhysicalVolumeLabel> decode(byte[] bytes, String path) throws IOException {
        if (bytes.length < 84 || !java.util.Arrays.equals(bytes, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
            return Optional.empty();
        }
        var buffer = ByteBuffer.wrap(bytes);
        var crc = new CRC32C();
        crc.update(bytes, 0, 80);
        if (buffer.getInt(80) != (int) crc.getValue()) {
            throw new IOException(path + " has a fivenines label with a bad checksum: it is damaged; "
                + "if the volume is no longer wanted, wipe its first 4 KiB");
        }
        int version = buffer.getInt(16);
        if (version != FORMAT_VERSION) {
            throw new IOException(path + " has a fivenines label of format " + version + "; this version reads format "
                + FORMAT_VERSION);
        }
        UUID id = UUID.fromString(new String(bytes, 20, 36, StandardCharsets.US_ASCII));
        return Optional.of(new PhysicalVolumeLabel(id, buffer.getLong(56), buffer.getLong(64), buffer.getLong(72)));
    }

    /** Writes the label and forces it to stable storage. */
    public void write(Path path) throws IOException {
        try (var channel = FileChannel.open(path, StandardOpenOption.WRITE)) {
            var buffer = encode();
            while (buffer.hasRemaining()) {
                channel.write(buffer, buffer.position());
            }
            channel.force(true);
        }
    }

    /** Overwrites the label area with zeroes (the volume is then no longer a PV). */
    public static void wipe(Path path) throws IOException {
        try (var channel = FileChannel.open(path, StandardOpenOption.WRITE)) {
            var zeroes = ByteBuffer.allocate(LABEL_SIZE);
            while (zeroes.hasRemaining()) {
                channel.write(zeroes, zeroes.position());
            }
            channel.force(true);
        }
    }
}
