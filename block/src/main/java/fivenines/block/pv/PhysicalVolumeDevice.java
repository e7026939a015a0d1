package fivenines.block.pv;

import fivenines.block.export.BlockExport;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.UUID;

/**
 * Prepares a file or block device as a physical volume: checks it, creates a sparse file
 * when asked, writes the label. Every check runs before anything is written.
 */
public final class PhysicalVolumeDevice {
    private PhysicalVolumeDevice() {
    }

    /** What {@link #prepare} did, so a refused registration can be undone. */
    public record Prepared(Path path, PhysicalVolumeLabel label, boolean createdFile) {
    }

    public static Prepared prepare(Path path, Long sizeOrNull, long extentSize) throws IOException {
        return prepare(path, sizeOrNull, extentSize, null);
    }

    /**
     * As {@link #prepare(Path, Long, long)}, but a label with the id {@code replaceable} (one the
     * cluster no longer knows, overwritten on the operator's word) does not stop it.
     */
    public static Prepared prepare(Path path, Long sizeOrNull, long extentSize, UUID replaceable) throws IOException {
        if (!path.isAbsolute()) {
            throw new IllegalArgumentException("physical volume path '" + path + "' must be absolute");
        }
        boolean exists = Files.exists(path);
        if (sizeOrNull != null && exists) {
            throw new IllegalArgumentException(path + " exists already; omit --size to use it as it is");
        }
        if (sizeOrNull == null && !exists) {
            throw new IllegalArgumentException(path + " does not exist; give --size to create a sparse file there");
        }
        long minimum = PhysicalVolumeLabel.DATA_OFFSET + 2 * extentSize;
        if (sizeOrNull != null) {
            if (sizeOrNull < minimum) {
                throw new IllegalArgumentException("--size " + sizeOrNull + " is too small: a physical volume needs at least "
                    + minimum + " bytes (1 MiB label area and two extents of " + extentSize + ")");
            }
            Path parent = path.getParent();
            if (parent == null || !Files.isDirectory(parent)) {
                throw new IllegalArgumentException("the folder of " + path + " does not exist");
            }
        } else {
            if (Files.isDirectory(path)) {
                throw new IllegalArgumentException(path + " is a directory; give a file or a block device");
            }
            if (!Files.isReadable(path) || !Files.isWritable(path)) {
                throw new IllegalArgumentException(path + " cannot be read and written by the agent");
            }
            var existing = PhysicalVolumeLabel.read(path);
            if (existing.isPresent() && !existing.get().id().equals(replaceable)) {
                throw new IllegalArgumentException(path + " is already labelled as physical volume " + existing.get().id());
            }
            long size = sizeOf(path);
            if (size < minimum) {
                throw new IllegalArgumentException(path + " holds " + size + " bytes; a physical volume needs at least "
                    + minimum + " (1 MiB label area and two extents of " + extentSize + ")");
            }
        }
        boolean created = false;
        if (sizeOrNull != null) {
            try (var channel = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                channel.truncate(0);
                channel.write(java.nio.ByteBuffer.allocate(1), sizeOrNull - 1); // sparse: only the last byte is written
            }
            created = true;
        }
        long total = sizeOf(path);
        long dataSize = (total - PhysicalVolumeLabel.DATA_OFFSET) / extentSize * extentSize;
        var label = new PhysicalVolumeLabel(UUID.randomUUID(), extentSize, PhysicalVolumeLabel.DATA_OFFSET, dataSize);
        try {
            label.write(path);
        } catch (IOException e) {
            if (created) {
                Files.deleteIfExists(path);
            }
            throw e;
        }
        return new Prepared(path, label, created);
    }

    /**
     * Labels a whole device reached as an export (a remote AoE device, called {@code where} in
     * messages): the same checks as for a disk, then the label, flushed. A label with the id
     * {@code replaceable} may be overwritten; any other refuses.
     */
    public static PhysicalVolumeLabel prepare(BlockExport device, String where, long extentSize, UUID replaceable)
        throws IOException {
        var existing = PhysicalVolumeLabel.read(device);
        if (existing.isPresent() && !existing.get().id().equals(replaceable)) {
            throw new IllegalArgumentException(where + " is already labelled as physical volume " + existing.get().id());
        }
        long minimum = PhysicalVolumeLabel.DATA_OFFSET + 2 * extentSize;
        if (device.size() < minimum) {
            throw new IllegalArgumentException(where + " holds " + device.size() + " bytes; a physical volume needs at least "
                + minimum + " (1 MiB label area and two extents of " + extentSize + ")");
        }
        long dataSize = (device.size() - PhysicalVolumeLabel.DATA_OFFSET) / extentSize * extentSize;
        var label = new PhysicalVolumeLabel(UUID.randomUUID(), extentSize, PhysicalVolumeLabel.DATA_OFFSET, dataSize);
        label.write(device);
        return label;
    }

    /** Undoes {@link #prepare}: deletes a file it created, or wipes the label it wrote. */
    public static void undo(Prepared prepared) throws IOException {
        if (prepared.createdFile()) {
            Files.deleteIfExists(prepared.path());
        } else {
            PhysicalVolumeLabel.wipe(prepared.path());
        }
    }

    /** Size in bytes of a regular file or a block device. */
    public static long sizeOf(Path path) throws IOException {
        if (Files.isRegularFile(path)) {
            return Files.size(path);
        }
        // a block device: the kernel states its size in 512-byte sectors
        String name = path.toRealPath().getFileName().toString();
        Path sectors = Path.of("/sys/class/block", name, "size");
        if (!Files.isReadable(sectors)) {
            throw new IllegalArgumentException(path + " is neither a regular file nor a block device the kernel lists in /sys/class/block");
        }
        return Long.parseLong(Files.readString(sectors).strip()) * 512;
    }
}
