package fivenines.block.pv;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PhysicalVolumeDeviceTest {
    static final long EXTENT = 4L << 20;
    @TempDir
    Path dir;

    @Test
    void aSparseFileIsCreatedLabelledAndReadBack() throws Exception {
        Path file = dir.resolve("pv0");
        var prepared = PhysicalVolumeDevice.prepare(file, 64L << 20, EXTENT);
        assertTrue(prepared.createdFile());
        assertEquals(64L << 20, Files.size(file));
        assertTrue((long) Files.getAttribute(file, "unix:size") > 0);
        var label = PhysicalVolumeLabel.read(file).orElseThrow();
        assertEquals(prepared.label(), label);
        assertEquals(15 * EXTENT, label.dataSize(), "63 MiB of data area hold 15 whole extents");
        assertEquals(PhysicalVolumeLabel.DATA_OFFSET, label.dataOffset());
    }

    @Test
    void aLabelledVolumeIsRefusedAndLeftAsItWas() throws Exception {
        Path file = dir.resolve("pv0");
        PhysicalVolumeDevice.prepare(file, 64L << 20, EXTENT);
        byte[] before = Files.readAllBytes(file);
        var error = assertThrows(IllegalArgumentException.class, () -> PhysicalVolumeDevice.prepare(file, null, EXTENT));
        assertTrue(error.getMessage().contains("already labelled"), error.getMessage());
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(file)));
    }

    @Test
    void missingTooSmallAndDirectoriesAreRefusedWithoutWriting() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> PhysicalVolumeDevice.prepare(dir.resolve("missing"), null, EXTENT));
        assertFalse(Files.exists(dir.resolve("missing")));
        assertThrows(IllegalArgumentException.class, () -> PhysicalVolumeDevice.prepare(dir.resolve("tiny"), 1L << 20, EXTENT));
        assertFalse(Files.exists(dir.resolve("tiny")));
        Path small = Files.write(dir.resolve("small"), new byte[4096]);
        var error = assertThrows(IllegalArgumentException.class, () -> PhysicalVolumeDevice.prepare(small, null, EXTENT));
        assertTrue(error.getMessage().contains("needs at least"), error.getMessage());
        assertTrue(java.util.Arrays.equals(new byte[4096], Files.readAllBytes(small)));
        assertThrows(IllegalArgumentException.class, () -> PhysicalVolumeDevice.prepare(dir, null, EXTENT));
        assertThrows(IllegalArgumentException.class, () -> PhysicalVolumeDevice.prepare(Path.of("relative"), 64L << 20, EXTENT));
        var exists = assertThrows(IllegalArgumentException.class, () -> PhysicalVolumeDevice.prepare(small, 64L << 20, EXTENT));
        assertTrue(exists.getMessage().contains("omit --size"), exists.getMessage());
    }

    @Test
    void undoRemovesWhatPrepareDid() throws Exception {
        Path created = dir.resolve("new");
        PhysicalVolumeDevice.undo(PhysicalVolumeDevice.prepare(created, 64L << 20, EXTENT));
        assertFalse(Files.exists(created));
        Path existing = Files.write(dir.resolve("existing"), new byte[16 << 20]);
        PhysicalVolumeDevice.undo(PhysicalVolumeDevice.prepare(existing, null, EXTENT));
        assertTrue(PhysicalVolumeLabel.read(existing).isEmpty());
    }

    @Test
    void aDamagedLabelIsReportedNotIgnored() throws Exception {
        Path file = dir.resolve("pv0");
        PhysicalVolumeDevice.prepare(file, 64L << 20, EXTENT);
        try (var channel = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
            channel.write(java.nio.ByteBuffer.wrap(new byte[]{42}), 60);
        }
        var error = assertThrows(java.io.IOException.class, () -> PhysicalVolumeLabel.read(file));
        assertTrue(error.getMessage().contains("bad checksum"), error.getMessage());
    }
}
