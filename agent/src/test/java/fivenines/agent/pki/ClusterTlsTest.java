package fivenines.agent.pki;

import fivenines.block.export.ExportRegistry;
import fivenines.block.export.FileExport;
import fivenines.block.nbd.NbdClient;
import fivenines.block.nbd.NbdServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cluster's certificates as real TLS peers see them: openssl verifies the chain, and a block
 * service in forced-TLS mode with client certificates serves nbdinfo, nbdcopy and the engine's own
 * client only when they present a node certificate of the cluster.
 */
class ClusterTlsTest {
    @TempDir
    Path dir;

    record Outcome(int exit, String out) {
    }

    static Outcome run(String... command) throws IOException, InterruptedException {
        var process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Outcome(process.waitFor(), out);
    }

    static Outcome runOk(String... command) throws IOException, InterruptedException {
        Outcome outcome = run(command);
        assertEquals(0, outcome.exit(), String.join(" ", command) + ":\n" + outcome.out());
        return outcome;
    }

    @Test
    void theCaAndANodeCertificateVerifyWithOpensslAndKeysAreKeptPrivate() throws Exception {
        var first = ClusterTls.open(dir.resolve("n0"));
        first.createAuthority("blenke", "n0", List.of("10.0.0.1", "127.0.0.1", "localhost"), Instant.now());
        Path pki = first.directory();
        runOk("openssl", "verify", "-CAfile", pki.resolve("ca-cert.pem").toString(), "-purpose", "sslserver",
            pki.resolve("node-cert.pem").toString());
        runOk("openssl", "verify", "-CAfile", pki.resolve("ca-cert.pem").toString(), "-purpose", "sslclient",
            pki.resolve("node-cert.pem").toString());
        String text = runOk("openssl", "x509", "-in", pki.resolve("node-cert.pem").toString(), "-noout", "-text").out();
        assertTrue(text.contains("CN=n0") || text.contains("CN = n0"), text);
        assertTrue(text.contains("IP Address:10.0.0.1") && text.contains("DNS:localhost"), text);
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(pki)));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(pki.resolve("ca-key.pem"))));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(pki.resolve("node-key.pem"))));

        // a second node gets its certificate for its own key, and keeps it across a restart
        var second = ClusterTls.open(dir.resolve("n1"));
        var key = Certificates.newKeyPair();
        var issued = first.issue("blenke", "n1", key.getPublic(), List.of("10.0.0.2"), Instant.now());
        second.adopt(first.authority(), first.authorityKey(), issued, key);
        var reopened = ClusterTls.open(dir.resolve("n1"));
        assertTrue(reopened.ready() && reopened.canSign());
        assertEquals(Certificates.serial(issued), Certificates.serial(reopened.certificate()));
        assertEquals("n1", Certificates.commonName(reopened.certificate()));
        // a certificate for another key, or from another CA, is not adopted
        assertThrows(IllegalArgumentException.class, () -> second.adopt(first.authority(), first.authorityKey(), issued,
            Certificates.newKeyPair()));
        var stranger = ClusterTls.open(dir.resolve("stranger"));
        stranger.createAuthority("other", "x", List.of("127.0.0.1"), Instant.now());
        assertThrows(IllegalArgumentException.class, () -> second.adopt(stranger.authority(), null, issued, key));
        reopened.forget();
        assertFalse(ClusterTls.open(dir.resolve("n1")).ready());
    }

    @Test
    void aBlockServiceInForcedTlsServesOnlyClientsWithANodeCertificateOfTheCluster() throws Exception {
        var server = ClusterTls.open(dir.resolve("n0"));
        server.createAuthority("blenke", "n0", List.of("127.0.0.1"), Instant.now());
        var peer = ClusterTls.open(dir.resolve("n1"));
        var key = Certificates.newKeyPair();
        peer.adopt(server.authority(), server.authorityKey(),
            server.issue("blenke", "n1", key.getPublic(), List.of("127.0.0.1"), Instant.now()), key);
        var stranger = ClusterTls.open(dir.resolve("stranger"));
        stranger.createAuthority("other", "n1", List.of("127.0.0.1"), Instant.now());
        // the stranger's folder with the cluster's CA certificate: it trusts the server, but its own certificate is forged
        Path forged = Files.createDirectories(dir.resolve("forged"));
        Files.copy(server.authorityFile(), forged.resolve("ca-cert.pem"));
        Files.copy(stranger.directory().resolve("node-cert.pem"), forged.resolve("client-cert.pem"));
        Files.copy(stranger.directory().resolve("node-key.pem"), forged.resolve("client-key.pem"));
        Path anonymous = Files.createDirectories(dir.resolve("anonymous"));
        Files.copy(server.authorityFile(), anonymous.resolve("ca-cert.pem"));

        Path disk = dir.resolve("disk.img");
        try (var file = new RandomAccessFile(disk.toFile(), "rw")) {
            file.setLength(8L << 20);
        }
        Path junk = dir.resolve("junk.img");
        Files.write(junk, new byte[1 << 20]);
        Files.write(junk, "overwritten".getBytes(StandardCharsets.UTF_8));
        Path socket = dir.resolve("nbd.sock");
        var registry = new ExportRegistry();
        var config = NbdServer.Config.builder().tcp("127.0.0.1", 0).unixSocket(socket)
            .tls(server.context(), true).clientCertificates(true).peerCheck(server::accepts).build();
        try (var export = FileExport.wholeFile("pv-secret", disk, false); var nbd = new NbdServer(config, registry)) {
            registry.add(export);
            nbd.start();
            String uri = "nbd://127.0.0.1:" + nbd.tcpPort();
            String tlsUri = "nbds://127.0.0.1:" + nbd.tcpPort();

            var list = run("nbdinfo", "--list", uri);
            assertNotEquals(0, list.exit(), list.out());
            assertFalse(list.out().contains("pv-secret"), "a plain client learns no export name: " + list.out());
            var copy = run("nbdcopy", junk.toString(), uri + "/pv-secret");
            assertNotEquals(0, copy.exit(), copy.out());
            var read = run("nbdcopy", uri + "/pv-secret", dir.resolve("read.img").toString());
            assertNotEquals(0, read.exit(), read.out());
            for (Path credentials : List.of(anonymous, forged)) {
                var listed = run("nbdinfo", "--list", tlsUri + "?tls-certificates=" + credentials);
                assertNotEquals(0, listed.exit(), credentials + ": " + listed.out());
                assertFalse(listed.out().contains("pv-secret"), listed.out());
                var written = run("nbdcopy", junk.toString(), tlsUri + "/pv-secret?tls-certificates=" + credentials);
                assertNotEquals(0, written.exit(), credentials + ": " + written.out());
            }
            assertArrayEquals(new byte[8 << 20], Files.readAllBytes(disk), "nothing was written by a client without a credential");
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));

            // a node of the cluster: nbdinfo with the node's folder as it is, and the engine's own client
            String listed = runOk("nbdinfo", "--list", tlsUri + "?tls-certificates=" + peer.directory()).out();
            assertTrue(listed.contains("pv-secret"), listed);
            try (var client = NbdClient.connectTcp("127.0.0.1", nbd.tcpPort(), "pv-secret", Duration.ofSeconds(10), peer.context())) {
                client.write(4096, ByteBuffer.wrap("over TLS".getBytes(StandardCharsets.UTF_8)), true);
                var back = ByteBuffer.allocate(8);
                client.read(4096, back);
                assertEquals("over TLS", new String(back.array(), StandardCharsets.UTF_8));
                // whole chunks, as an engine writes them, direct buffers included
                for (int i = 1; i < 6; i++) {
                    var chunk = ByteBuffer.allocateDirect(1 << 20);
                    while (chunk.hasRemaining()) {
                        chunk.put((byte) i);
                    }
                    client.write((long) i << 20, chunk.flip(), false);
                }
                client.flush();
                var whole = ByteBuffer.allocateDirect(5 << 20);
                client.read(1 << 20, whole);
                for (int i = 0; i < 5 << 20; i++) {
                    assertEquals((byte) (i / (1 << 20) + 1), whole.get(i), "byte " + i);
                }
            }
            // the engine's client with a forged certificate, and without TLS, is refused
            assertThrows(IOException.class, () -> NbdClient.connectTcp("127.0.0.1", nbd.tcpPort(), "pv-secret",
                Duration.ofSeconds(10), stranger.context()).close());
            assertThrows(IOException.class, () -> NbdClient.connectTcp("127.0.0.1", nbd.tcpPort(), "pv-secret",
                Duration.ofSeconds(10)).close());
            // a node that the store no longer accepts is refused although its chain is good
            server.refuse(certificate -> Certificates.commonName(certificate).equals("n1"));
            assertThrows(IOException.class, () -> NbdClient.connectTcp("127.0.0.1", nbd.tcpPort(), "pv-secret",
                Duration.ofSeconds(10), peer.context()).close());
            // the Unix socket needs no certificate
            assertTrue(runOk("nbdinfo", "nbd+unix:///pv-secret?socket=" + socket).out().contains("8388608"));
        }
        byte[] written = Files.readAllBytes(disk);
        assertEquals("over TLS", new String(written, 4096, 8, StandardCharsets.UTF_8));
    }
}
