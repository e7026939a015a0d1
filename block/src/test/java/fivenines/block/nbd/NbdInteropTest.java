package fivenines.block.nbd;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static fivenines.block.nbd.NbdTestServer.run;
import static fivenines.block.nbd.NbdTestServer.runOk;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Our server against the real clients from Debian: qemu-img, qemu-io, nbdinfo, nbdcopy. */
class NbdInteropTest {
    static final long SIZE = 64L << 20;
    @TempDir
    Path dir;
    NbdTestServer nbd;
    Path disk;

    @BeforeEach
    void serve() throws Exception {
        nbd = new NbdTestServer(dir);
        disk = NbdTestServer.sparseFile(dir, "disk.img", SIZE);
        nbd.serve("disk", disk);
    }

    @AfterEach
    void stop() throws Exception {
        nbd.close();
    }

    @Test
    void qemuImgSeesTheSizeOverTcpAndTheUnixSocket() throws Exception {
        assertTrue(runOk("qemu-img", "info", "--output=json", nbd.uri("disk")).out().contains("\"virtual-size\": " + SIZE));
        assertTrue(runOk("qemu-img", "info", "--output=json", nbd.unixUri("disk")).out().contains("\"virtual-size\": " + SIZE));
    }

    @Test
    void qemuIoPatternsWrittenAtRandomPlacesReadBackAndLandInTheFile() throws Exception {
        var random = new Random(7);
        for (int i = 0; i < 6; i++) {
            long offset = (random.nextInt((int) (SIZE >> 16) - 4)) << 16;
            int length = (1 + random.nextInt(16)) * 4096;
            String pattern = "0x" + Integer.toHexString(16 + random.nextInt(200));
            runOk("qemu-io", "-f", "raw", "-c", "write -P " + pattern + " " + offset + " " + length,
                "-c", "read -P " + pattern + " " + offset + " " + length, nbd.uri("disk"));
            byte[] stored = new byte[length];
            try (var channel = java.nio.channels.FileChannel.open(disk)) {
                channel.read(java.nio.ByteBuffer.wrap(stored), offset);
            }
            byte expected = (byte) Integer.parseInt(pattern.substring(2), 16);
            for (byte b : stored) {
                assertEquals(expected, b);
            }
        }
        // a read with the wrong pattern must fail: the check above is not vacuous
        var mismatch = run("qemu-io", "-f", "raw", "-c", "read -P 0x01 0 4096", nbd.uri("disk"));
        assertTrue(mismatch.out().contains("Pattern verification failed"), mismatch.out());
    }

    @Test
    void qemuImgConvertsBothWaysAndComparesEqual() throws Exception {
        Path source = dir.resolve("source.raw");
        byte[] content = new byte[8 << 20];
        new Random(3).nextBytes(content);
        Files.write(source, content);
        runOk("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", source.toString(), nbd.uri("disk"));
        Path back = dir.resolve("back.raw");
        runOk("qemu-img", "convert", "-f", "raw", "-O", "raw", nbd.unixUri("disk"), back.toString());
        assertEquals(SIZE, Files.size(back));
        runOk("qemu-img", "compare", "-f", "raw", "-F", "raw", nbd.uri("disk"), back.toString());
        Path other = dir.resolve("other.raw");
        Files.copy(back, other);
        try (var channel = java.nio.channels.FileChannel.open(other, java.nio.file.StandardOpenOption.WRITE)) {
            channel.write(java.nio.ByteBuffer.wrap(new byte[]{(byte) ~content[1000]}), 1000);
        }
        var differs = run("qemu-img", "compare", "-f", "raw", "-F", "raw", nbd.uri("disk"), other.toString());
        assertEquals(1, differs.exit(), differs.out());
    }

    @Test
    void nbdinfoListsExportsAndMapsHolesAfterTrim() throws Exception {
        NbdTestServer.sparseFile(dir, "second.img", 8L << 20);
        nbd.serve("second", dir.resolve("second.img"));
        String list = runOk("nbdinfo", "--list", nbd.uri("")).out();
        assertTrue(list.contains("export=\"disk\"") && list.contains("export=\"second\""), list);
        assertTrue(list.contains("can_multi_conn: true"), list);
        runOk("qemu-io", "-f", "raw", "-c", "write -P 0x55 0 4M", nbd.uri("disk"));
        String mapped = runOk("nbdinfo", "--map", nbd.uri("disk")).out();
        assertTrue(mapped.lines().anyMatch(l -> l.matches("\\s*0\\s+4194304\\s+0\\s+data")), mapped);
        runOk("qemu-io", "-f", "raw", "-c", "discard 1M 2M", nbd.uri("disk"));
        String trimmed = runOk("nbdinfo", "--map", nbd.uri("disk")).out();
        assertTrue(trimmed.lines().anyMatch(l -> l.matches("\\s*1048576\\s+2097152\\s+3\\s+hole,zero")), trimmed);
        runOk("qemu-io", "-f", "raw", "-c", "read -P 0 1M 2M", "-c", "read -P 0x55 0 1M", "-c", "read -P 0x55 3M 1M",
            nbd.uri("disk"));
    }

    @Test
    void nbdcopyBothWaysKeepsTheChecksum() throws Exception {
        Path source = dir.resolve("source.raw");
        byte[] content = new byte[(int) SIZE];
        new Random(11).nextBytes(content);
        java.util.Arrays.fill(content, 16 << 20, 32 << 20, (byte) 0);
        Files.write(source, content);
        runOk("nbdcopy", source.toString(), nbd.uri("disk"));
        assertEquals(NbdTestServer.sha256(source), NbdTestServer.sha256(disk));
        Path back = dir.resolve("back.raw");
        runOk("nbdcopy", nbd.unixUri("disk"), back.toString());
        assertEquals(NbdTestServer.sha256(source), NbdTestServer.sha256(back));
    }

    @Test
    void writesPastTheEndAndUnknownExportsAreRefused() throws Exception {
        var past = run("qemu-io", "-f", "raw", "-c", "write -P 0x11 " + (SIZE - 4096) + " 8192", nbd.uri("disk"));
        assertTrue(past.out().contains("error") || past.exit() != 0, past.out());
        var unknown = run("qemu-img", "info", nbd.uri("nope"));
        assertNotEquals(0, unknown.exit());
        // and the server still serves
        runOk("qemu-io", "-f", "raw", "-c", "write -P 0x22 0 4096", "-c", "read -P 0x22 0 4096", nbd.uri("disk"));
    }

    @Test
    void fioNbdEngineRunsAVerifiedWorkloadWhenFioHasIt() throws Exception {
        var engines = run("fio", "--enghelp");
        if (!engines.out().contains("nbd")) {
            return; // Debian's fio is built without libnbd here; the other clients cover the protocol
        }
        String out = runOk("fio", "--name=verify", "--ioengine=nbd", "--uri=" + nbd.uri("disk"), "--rw=randwrite",
            "--bs=4k", "--size=8M", "--iodepth=8", "--verify=crc32c", "--do_verify=1", "--verify_state_save=0").out();
        assertTrue(!out.contains("verify: bad"), out);
        assertTrue(out.contains("verify"), out);
    }
}
