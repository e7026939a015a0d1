package fivenines.block.export;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** A file export on its own: holes punched and reported, zeroing, windows, block devices. */
class FileExportTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private Path filled(String name, int size, byte fill) throws IOException {
        byte[] bytes = new byte[size];
        Arrays.fill(bytes, fill);
        return Files.write(dir.resolve(name), bytes);
    }

    private static byte[] read(BlockExport export, long offset, int length) throws IOException {
        var buffer = ByteBuffer.allocateDirect(length);
        export.read(offset, buffer);
        byte[] bytes = new byte[length];
        buffer.flip().get(bytes);
        return bytes;
    }

    /** The extents' total over a range, and whether the part at {@code at} is a hole. */
    private static boolean holeAt(List<Extent> extents, long at) {
        long position = 0;
        for (Extent extent : extents) {
            if (at < position + extent.length()) {
                return extent.hole();
            }
            position += extent.length();
        }
        throw new AssertionError("no extent covers " + at + ": " + extents);
    }

    @Test
    void trimPunchesAHoleThatReadsAsZeroesAndBlockStatusReports() throws IOException {
        try (var export = FileExport.wholeFile("disk", filled("disk.img", 4 * MIB, (byte) 0x5a), false)) {
            assertFalse(holeAt(export.blockStatus(0, 4 * MIB), MIB + 4096), "written data is data");
            export.trim(MIB, 2 * MIB);
            List<Extent> extents = export.blockStatus(0, 4 * MIB);
            assertEquals(4L * MIB, extents.stream().mapToLong(Extent::length).sum(), extents.toString());
            assertFalse(holeAt(extents, 0));
            assertTrue(holeAt(extents, MIB), extents.toString());
            assertTrue(holeAt(extents, 3L * MIB - 1), extents.toString());
            assertFalse(holeAt(extents, 3L * MIB), extents.toString());
            assertArrayEquals(new byte[2 * MIB], read(export, MIB, 2 * MIB));
            assertEquals(0x5a, read(export, 3L * MIB, 1)[0], "the trim stays inside its range");
            assertEquals(4L * MIB, Files.size(dir.resolve("disk.img")), "punching keeps the size");
        }
    }

    @Test
    void writeZeroesPunchesUnlessAskedToKeepTheSpace() throws IOException {
        try (var export = FileExport.wholeFile("disk", filled("disk.img", 2 * MIB, (byte) 0x11), false)) {
            export.writeZeroes(0, MIB, false, false);
            export.writeZeroes(MIB, MIB, true, true);
            List<Extent> extents = export.blockStatus(0, 2 * MIB);
            assertTrue(holeAt(extents, 0), "zeroing without NO_HOLE gives the space back: " + extents);
            assertFalse(holeAt(extents, MIB), "NO_HOLE keeps the range allocated: " + extents);
            assertArrayEquals(new byte[2 * MIB], read(export, 0, 2 * MIB));
        }
    }

    @Test
    void aWindowTranslatesOffsetsAndTouchesNothingOutsideIt() throws IOException {
        Path file = filled("pv.img", 64 * 1024, (byte) 0x77);
        try (var export = new FileExport("window", "a window", file, 16 * 1024, 32 * 1024, false)) {
            assertEquals(32 * 1024, export.size());
            export.write(0, ByteBuffer.wrap("start".getBytes(StandardCharsets.US_ASCII)), false);
            export.write(32 * 1024 - 3, ByteBuffer.wrap("end".getBytes(StandardCharsets.US_ASCII)), true);
            export.writeZeroes(4096, 8192, false, false);
            byte[] stored = Files.readAllBytes(file);
            assertEquals("start", new String(stored, 16 * 1024, 5, StandardCharsets.US_ASCII));
            assertEquals("end", new String(stored, 48 * 1024 - 3, 3, StandardCharsets.US_ASCII));
            assertEquals(0, stored[20 * 1024]);
            for (int i : new int[]{0, 16 * 1024 - 1, 48 * 1024, 64 * 1024 - 1}) {
                assertEquals(0x77, stored[i], "byte " + i + " lies outside the window");
            }
            assertTrue(holeAt(export.blockStatus(4096, 8192), 4096), "extents are relative to the window");
        }
    }

    @Test
    void aWindowPastTheEndOfAShortFileReadsAsZeroes() throws IOException {
        Path file = filled("short.img", 4096, (byte) 0x42);
        try (var export = new FileExport("long", "", file, 0, 3 * 4096, true)) {
            byte[] back = read(export, 0, 3 * 4096);
            assertEquals(0x42, back[4095]);
            assertArrayEquals(new byte[2 * 4096], Arrays.copyOfRange(back, 4096, 3 * 4096));
            assertTrue(export.readOnly());
        }
    }

    /** A loop device stands in for a disk: its size comes from the device, and zeroing writes zeroes. */
    @Test
    void aBlockDeviceIsSizedByTheDeviceAndZeroedByWriting() throws Exception {
        Path backing = filled("backing.img", 4 * MIB, (byte) 0x33);
        Process attach = new ProcessBuilder("losetup", "--find", "--show", backing.toString()).redirectErrorStream(true).start();
        String device = new String(attach.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assumeTrue(attach.waitFor(30, TimeUnit.SECONDS) && attach.exitValue() == 0 && device.startsWith("/dev/loop"),
            "no loop device here (needs root): " + device);
        try (var export = FileExport.wholeFile("device", Path.of(device), false)) {
            assertEquals(4L * MIB, export.size(), "the size comes from the device, not from stat");
            assertFalse(export.fastZero(), "zeroing a device writes");
            export.writeZeroes(MIB, MIB, false, true);
            export.trim(0, 4096);
            assertArrayEquals(new byte[MIB], read(export, MIB, MIB));
            assertEquals(List.of(new Extent(4L * MIB, false, false)), export.blockStatus(0, 4 * MIB));
        } finally {
            new ProcessBuilder("losetup", "--detach", device).start().waitFor(30, TimeUnit.SECONDS);
        }
        try (var channel = FileChannel.open(backing, StandardOpenOption.READ)) {
            var check = ByteBuffer.allocate(2);
            channel.read(check, 2L * MIB);
            assertEquals(0x33, check.get(0), "what lies past the zeroed range is kept");
        }
    }

    /** The flags of every descriptor of this process open on {@code file} (from /proc/self/fdinfo). */
    private static List<Integer> descriptorFlags(Path file) throws IOException {
        var flags = new java.util.ArrayList<Integer>();
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                Path to;
                try {
                    to = Files.readSymbolicLink(fd);
                } catch (IOException gone) {
                    continue; // the directory's own descriptor, closed by now
                }
                if (to.equals(file.toRealPath())) {
                    for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo", fd.getFileName().toString()))) {
                        if (line.startsWith("flags:")) {
                            flags.add(Integer.parseInt(line.substring(6).trim(), 8));
                        }
                    }
                }
            }
        }
        return flags;
    }

    private static final int O_DSYNC = 010000;
    private static final int O_ACCMODE = 3;

    @Test
    void aFuaWriteGoesThroughADescriptorOpenedDsyncAndReadsBackEverywhere() throws IOException {
        Path file = filled("fua.img", 4 * MIB, (byte) 0);
        assertEquals(List.of(), descriptorFlags(file));
        try (var export = FileExport.wholeFile("disk", file, false)) {
            var flags = descriptorFlags(file);
            assertEquals(1, flags.stream().filter(f -> (f & O_DSYNC) != 0 && (f & O_ACCMODE) != 0).count(),
                "one writable O_DSYNC descriptor for FUA writes: " + flags);
            byte[] record = "written through".getBytes(StandardCharsets.UTF_8);
            export.write(MIB + 512, ByteBuffer.wrap(record), true);
            export.write(MIB, ByteBuffer.wrap(new byte[] {7}), false);
            byte[] back = read(export, MIB + 512, record.length);
            assertArrayEquals(record, back, "a FUA write reads back through the export's other descriptor");
            byte[] onDisk = Files.readAllBytes(file);
            assertArrayEquals(record, Arrays.copyOfRange(onDisk, MIB + 512, MIB + 512 + record.length));
            assertEquals(7, onDisk[MIB]);
        }
        assertEquals(List.of(), descriptorFlags(file), "closing the export closes every descriptor it opened");
        try (var readOnly = FileExport.wholeFile("disk", file, true)) {
            var flags = descriptorFlags(file);
            assertTrue(flags.stream().allMatch(f -> (f & O_ACCMODE) == 0), "a read-only export opens nothing writable: " + flags);
        }
    }
}
