package fivenines.block.aoe;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.util.Arrays;
import java.util.List;

import static fivenines.block.aoe.AoeFrame.*;
import static fivenines.block.aoe.AoeProtocol.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Random and malformed frames against the frame handler: short ones, wrong versions, other
 * shelves and slots, responses, MACs outside a mask list, ATA commands with any LBA and count,
 * lengths that lie. The handler never throws, never reaches outside the export, answers only
 * what it should, and every answer is a well-formed reply of at least 60 bytes that fits the MTU.
 */
class AoeRobustnessProperties {
    static final MacAddress TARGET = MacAddress.parse("02:00:00:00:00:01");
    static final List<MacAddress> HOSTS = List.of(MacAddress.parse("02:00:00:00:00:0a"),
        MacAddress.parse("02:00:00:00:00:0b"), MacAddress.parse("02:00:00:00:00:0c"));
    static final int SHELF = 4;
    static final int SLOT = 2;
    static final int MTU = 1500;
    static final int SIZE = 64 * 512;

    @Property(tries = 300)
    void anySequenceOfFramesIsSafe(@ForAll("sequences") List<byte[]> frames) {
        var export = new MemoryExport(SIZE, false);
        var handler = new AoeFrameHandler(TARGET, SHELF, SLOT, sectorsPerFrame(MTU), 64, () -> export);
        for (byte[] frame : frames) {
            boolean masked = !handler.masks().isEmpty();
            boolean allowed = !masked || (frame.length >= 12 && handler.masks().contains(source(frame)));
            var reply = handler.handle(frame, frame.length);
            assertEquals(0, export.outside.get(), "the handler reached outside the export");
            boolean addressed = frame.length >= HEADER && etherType(frame) == ETHER_TYPE && !isResponse(frame)
                && (shelf(frame) == SHELF || shelf(frame) == BROADCAST_SHELF)
                && (slot(frame) == SLOT || slot(frame) == BROADCAST_SLOT);
            if (!addressed || !allowed) {
                assertNull(reply, "a frame not for this target (or masked out) is dropped");
                continue;
            }
            if (reply == null) {
                continue; // a short command header, or a config test that does not match
            }
            byte[] r = reply.frame();
            assertTrue(reply.length() >= MIN_FRAME, "replies are padded to 60 bytes");
            assertTrue(reply.length() <= MTU + ETHERNET_HEADER, "a reply fits the interface");
            assertTrue(isResponse(r));
            assertEquals(VERSION, version(r));
            assertEquals(source(frame), destination(r));
            assertEquals(TARGET, source(r));
            assertEquals(SHELF, shelf(r));
            assertEquals(SLOT, slot(r));
            assertEquals(tag(frame), tag(r));
            assertEquals(command(frame), command(r));
            if (version(frame) != VERSION) {
                assertTrue(isError(r));
                assertEquals(ERR_UNSUPPORTED_VERSION, error(r));
            } else if (command(frame) > CMD_RESERVE) {
                assertEquals(ERR_UNRECOGNIZED_COMMAND, error(r));
            }
            if (reply.durable()) {
                assertEquals(CMD_ATA, command(frame));
                assertSame(export, reply.export());
            }
        }
    }

    @Property(tries = 200)
    void writesLandExactlyWhereTheySayAndNowhereElse(@ForAll("writes") List<long[]> writes) {
        var export = new MemoryExport(SIZE, false);
        var handler = new AoeFrameHandler(TARGET, SHELF, SLOT, sectorsPerFrame(MTU), 64, () -> export);
        byte[] model = new byte[SIZE];
        int seq = 1;
        for (long[] w : writes) {
            long lba = w[0];
            int count = (int) w[1];
            boolean extended = w[2] == 1;
            byte[] data = new byte[count * SECTOR];
            Arrays.fill(data, (byte) seq++);
            byte[] f = new byte[Math.max(MIN_FRAME, ATA_HEADER + data.length)];
            putHeader(f, TARGET, HOSTS.get(0), 0, 0, SHELF, SLOT, CMD_ATA, seq);
            putAta(f, extended ? AFLAG_EXTENDED | AFLAG_WRITE : AFLAG_WRITE, 0, count,
                extended ? ATA_WRITE_SECTORS_EXT : ATA_WRITE_SECTORS, lba);
            System.arraycopy(data, 0, f, ATA_HEADER, data.length);
            var reply = handler.handle(f, f.length);
            long start = extended ? lba & MAX_LBA48 : lba & MAX_LBA28;
            if (count > sectorsPerFrame(MTU)) {
                assertEquals(ERR_BAD_ARGUMENT, error(reply.frame()));
            } else if (start + count > SIZE / SECTOR) {
                assertEquals(STATUS_DRDY | STATUS_ERR, ataCommand(reply.frame()));
                assertEquals(ERROR_IDNF, ataError(reply.frame()));
            } else {
                assertEquals(STATUS_DRDY, ataCommand(reply.frame()));
                System.arraycopy(data, 0, model, (int) start * SECTOR, data.length);
            }
            assertEquals(0, export.outside.get());
        }
        assertArrayEquals(model, export.data);
    }

    @Provide
    Arbitrary<List<long[]>> writes() {
        Arbitrary<Long> lba = Arbitraries.oneOf(Arbitraries.longs().between(0, SIZE / SECTOR + 2),
            Arbitraries.longs().between(0, MAX_LBA48), Arbitraries.of(MAX_LBA28, MAX_LBA48, 0xE0000000L | 3, 1L << 28, (1L << 28) + 1));
        return Combinators.combine(lba, Arbitraries.longs().between(0, 3), Arbitraries.longs().between(0, 1))
            .as((l, c, e) -> new long[] {l, c, e}).list().ofMaxSize(30);
    }

    @Provide
    Arbitrary<List<byte[]>> sequences() {
        return Arbitraries.oneOf(garbage(), structured(), structured(), structured()).list().ofMaxSize(25);
    }

    Arbitrary<byte[]> garbage() {
        return Arbitraries.bytes().array(byte[].class).ofMaxSize(1600);
    }

    Arbitrary<byte[]> structured() {
        Arbitrary<Integer> version = Arbitraries.frequencyOf(
            net.jqwik.api.Tuple.of(9, Arbitraries.just(VERSION)), net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(0, 15)));
        Arbitrary<Integer> flags = Arbitraries.frequencyOf(
            net.jqwik.api.Tuple.of(8, Arbitraries.just(0)), net.jqwik.api.Tuple.of(2, Arbitraries.integers().between(0, 15)));
        Arbitrary<Integer> shelf = Arbitraries.of(SHELF, SHELF, SHELF, BROADCAST_SHELF, 0, SHELF + 1);
        Arbitrary<Integer> slot = Arbitraries.of(SLOT, SLOT, SLOT, BROADCAST_SLOT, 0, SLOT + 1);
        Arbitrary<Integer> command = Arbitraries.frequencyOf(
            net.jqwik.api.Tuple.of(5, Arbitraries.just(CMD_ATA)), net.jqwik.api.Tuple.of(2, Arbitraries.just(CMD_QUERY_CONFIG)),
            net.jqwik.api.Tuple.of(2, Arbitraries.just(CMD_MAC_MASK)), net.jqwik.api.Tuple.of(2, Arbitraries.just(CMD_RESERVE)),
            net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(0, 255)));
        Arbitrary<Integer> from = Arbitraries.integers().between(0, HOSTS.size() - 1);
        Arbitrary<byte[]> body = Arbitraries.oneOf(ataBody(), Arbitraries.bytes().array(byte[].class).ofMaxSize(64),
            maskBody(), reserveBody());
        Arbitrary<Integer> cut = Arbitraries.frequencyOf(
            net.jqwik.api.Tuple.of(8, Arbitraries.just(Integer.MAX_VALUE)), net.jqwik.api.Tuple.of(2, Arbitraries.integers().between(0, 80)));
        return Combinators.combine(List.of(version, flags, shelf, slot, command, from, cut)).as(v -> v).flatMap(v ->
            body.map(b -> {
                byte[] f = new byte[Math.max(MIN_FRAME, HEADER + b.length)];
                putHeader(f, TARGET, HOSTS.get((Integer) v.get(5)), (Integer) v.get(1), 0, (Integer) v.get(2), (Integer) v.get(3),
                    (Integer) v.get(4), 77);
                f[14] = (byte) ((Integer) v.get(0) << 4 | (Integer) v.get(1));
                System.arraycopy(b, 0, f, HEADER, b.length);
                int length = Math.min(f.length, (Integer) v.get(6));
                return Arrays.copyOf(f, length);
            }));
    }

    Arbitrary<byte[]> ataBody() {
        Arbitrary<Integer> cmd = Arbitraries.of(ATA_READ_SECTORS, ATA_READ_SECTORS_EXT, ATA_WRITE_SECTORS, ATA_WRITE_SECTORS_EXT,
            ATA_IDENTIFY_DEVICE, ATA_FLUSH_CACHE, ATA_FLUSH_CACHE_EXT, ATA_CHECK_POWER_MODE, 0xB0, 0x00, 0xFF);
        Arbitrary<Long> lba = Arbitraries.oneOf(Arbitraries.longs().between(0, SIZE / SECTOR + 4), Arbitraries.longs().between(0, MAX_LBA48));
        Arbitrary<Integer> count = Arbitraries.oneOf(Arbitraries.integers().between(0, 4), Arbitraries.integers().between(0, 255));
        Arbitrary<Integer> dataSectors = Arbitraries.integers().between(0, 3);
        return Combinators.combine(cmd, lba, count, dataSectors, Arbitraries.integers().between(0, 255)).as((c, l, n, d, fl) -> {
            byte[] f = new byte[ATA_HEADER + d * SECTOR];
            putAta(f, fl, 0, n, c, l);
            byte[] body = Arrays.copyOfRange(f, HEADER, f.length);
            Arrays.fill(body, 12, body.length, (byte) 0x5A);
            return body;
        });
    }

    Arbitrary<byte[]> maskBody() {
        return Combinators.combine(Arbitraries.integers().between(0, 2), Arbitraries.integers().between(0, 4),
            Arbitraries.integers().between(0, 3).list().ofMaxSize(4), Arbitraries.integers().between(0, HOSTS.size() - 1))
            .as((mcmd, count, dcmds, host) -> {
                byte[] b = new byte[4 + 8 * dcmds.size()];
                b[1] = (byte) (int) mcmd;
                b[3] = (byte) (int) count;
                for (int i = 0; i < dcmds.size(); i++) {
                    b[4 + 8 * i + 1] = (byte) (int) dcmds.get(i);
                    HOSTS.get((host + i) % HOSTS.size()).write(b, 4 + 8 * i + 2);
                }
                return b;
            });
    }

    Arbitrary<byte[]> reserveBody() {
        return Combinators.combine(Arbitraries.integers().between(0, 3), Arbitraries.integers().between(0, 4),
            Arbitraries.integers().between(0, 3), Arbitraries.integers().between(0, HOSTS.size() - 1))
            .as((rcmd, count, macs, host) -> {
                byte[] b = new byte[2 + 6 * macs];
                b[0] = (byte) (int) rcmd;
                b[1] = (byte) (int) count;
                for (int i = 0; i < macs; i++) {
                    HOSTS.get((host + i) % HOSTS.size()).write(b, 2 + 6 * i);
                }
                return b;
            });
    }
}
