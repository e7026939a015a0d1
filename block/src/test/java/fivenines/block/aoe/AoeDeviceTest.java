package fivenines.block.aoe;

import fivenines.block.pv.PhysicalVolumeDevice;
import fivenines.block.pv.PhysicalVolumeLabel;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The export over an AoE initiator: byte ranges over sectors, concurrent partial writes, the PV label on it. */
class AoeDeviceTest {
    private static final int SIZE = 4 << 20;

    private static AoeDevice device(MemoryLink link, long base, long size) throws IOException {
        var initiator = AoeInitiator.connect(link, 4, 1, Duration.ofSeconds(5), AoeInitiator.Settings.defaults());
        return new AoeDevice("pv-test", "AoE e4.1 on mem0", initiator, base, size);
    }

    @Test
    void bytesInsideSectorsAreWrittenAndReadExactlyAndTheirNeighboursKept() throws Exception {
        var link = new MemoryLink(1500, 4, 1, 16, SIZE);
        new Random(1).nextBytes(link.export.data);
        byte[] expected = link.export.data.clone();
        try (var device = device(link, 1 << 20, 2 << 20)) {
            var random = new Random(2);
            for (int i = 0; i < 200; i++) {
                int offset = random.nextInt(2 << 20 - 5000);
                int length = 1 + random.nextInt(4000);
                byte[] data = new byte[length];
                random.nextBytes(data);
                device.write(offset, ByteBuffer.wrap(data), random.nextBoolean());
                System.arraycopy(data, 0, expected, (1 << 20) + offset, length);
                int readAt = random.nextInt(2 << 20 - 5000);
                var back = ByteBuffer.allocate(1 + random.nextInt(4000));
                device.read(readAt, back);
                assertArrayEquals(Arrays.copyOfRange(expected, (1 << 20) + readAt, (1 << 20) + readAt + back.capacity()), back.array());
            }
            assertArrayEquals(expected, link.export.data, "every byte written where it was meant, nothing else changed");
            device.writeZeroes(1000, 3000, false, true);
            Arrays.fill(expected, (1 << 20) + 1000, (1 << 20) + 4000, (byte) 0);
            assertArrayEquals(expected, link.export.data);
            var outside = assertThrows(IOException.class, () -> device.read((2 << 20) - 10, ByteBuffer.allocate(20)));
            assertTrue(outside.getMessage().contains("outside pv-test"), outside.getMessage());
        }
    }

    @Test
    void partialWritesToDifferentBytesOfTheSameSectorsAllLandWhenTheyRunAtOnce() throws Exception {
        var link = new MemoryLink(1500, 4, 1, 16, SIZE);
        link.delayMillis = 2; // a read-modify-write spans two round trips: races show up
        try (var device = device(link, 0, SIZE)) {
            List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int index = t;
                threads.add(Thread.ofPlatform().start(() -> {
                    try {
                        for (int round = 0; round < 10; round++) {
                            // thread t owns bytes [t*100, t*100+100) of every 2 KiB block of the first 8 KiB;
                            // aligned whole-block writes of other sectors run beside them
                            byte[] mine = new byte[100];
                            Arrays.fill(mine, (byte) (index * 16 + round));
                            device.write((round % 4) * 2048L + index * 100, ByteBuffer.wrap(mine), false);
                            device.write(8192L + index * 4096L, ByteBuffer.wrap(new byte[4096]), false);
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
            assertEquals(List.of(), failures);
            for (int block = 0; block < 4; block++) {
                for (int t = 0; t < 8; t++) {
                    int round = block == 0 ? 8 : block == 1 ? 9 : block == 2 ? 6 : 7;
                    byte want = (byte) (t * 16 + round);
                    for (int i = 0; i < 100; i++) {
                        assertEquals(want, link.export.data[block * 2048 + t * 100 + i], "block " + block + " thread " + t);
                    }
                }
            }
        }
    }

    @Test
    void aPhysicalVolumeLabelGoesOntoTheDeviceAsOntoADiskAndIsRefusedTwice() throws Exception {
        var link = new MemoryLink(1500, 4, 1, 16, SIZE);
        try (var device = device(link, 0, SIZE)) {
            int flushes = link.export.flushes.get();
            var label = PhysicalVolumeDevice.prepare(device, "aoe:e4.1@mem0", 1 << 20, null);
            assertTrue(link.export.flushes.get() > flushes, "the label is flushed");
            assertEquals((SIZE - (1 << 20)), label.dataSize());
            assertEquals(label, PhysicalVolumeLabel.read(device).orElseThrow());
            var again = assertThrows(IllegalArgumentException.class, () -> PhysicalVolumeDevice.prepare(device, "aoe:e4.1@mem0", 1 << 20, null));
            assertEquals("aoe:e4.1@mem0 is already labelled as physical volume " + label.id(), again.getMessage());
            var replaced = PhysicalVolumeDevice.prepare(device, "aoe:e4.1@mem0", 1 << 20, label.id());
            assertNotEquals(label.id(), replaced.id());
            PhysicalVolumeLabel.wipe(device);
            assertTrue(PhysicalVolumeLabel.read(device).isEmpty());
            var small = assertThrows(IllegalArgumentException.class, () -> PhysicalVolumeDevice.prepare(device, "aoe:e4.1@mem0", 4 << 20, null));
            assertTrue(small.getMessage().startsWith("aoe:e4.1@mem0 holds 4194304 bytes; a physical volume needs at least"), small.getMessage());
        }
    }

    @Test
    void aoePathsNameTargetAndInterface() {
        assertEquals("aoe:e4.1@eth1", AoePath.parse("aoe:e4.1", "eth1").toString());
        assertEquals(new AoePath(4, 1, "eth1"), AoePath.parse("aoe:e4.1@eth1"));
        assertEquals(new AoePath(4, 1, "eth1"), AoePath.parse("aoe:e4.1@eth1", "eth1"));
        assertEquals("'aoe:e4.1@eth1' names interface eth1 but --interface says eth2",
            assertThrows(IllegalArgumentException.class, () -> AoePath.parse("aoe:e4.1@eth1", "eth2")).getMessage());
        assertEquals("an AoE physical volume needs the interface that reaches it: aoe:e4.1 --interface IF",
            assertThrows(IllegalArgumentException.class, () -> AoePath.parse("aoe:e4.1", null)).getMessage());
        assertEquals("slot 255 is outside 0..254",
            assertThrows(IllegalArgumentException.class, () -> AoePath.parse("aoe:e4.255", "eth1")).getMessage());
        assertEquals("'aoe:4.1' is not an AoE device; write aoe:eSHELF.SLOT, e.g. aoe:e4.1",
            assertThrows(IllegalArgumentException.class, () -> AoePath.parse("aoe:4.1", "eth1")).getMessage());
        assertEquals("'eth/1' is not a network interface name",
            assertThrows(IllegalArgumentException.class, () -> AoePath.parse("aoe:e4.1", "eth/1")).getMessage());
    }
}
