package fivenines.block.nbd;

import fivenines.block.export.ExportRegistry;
import fivenines.block.export.FileExport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** STARTTLS with real clients: certificates made by openssl, qemu-io and nbdinfo as clients. */
class NbdTlsTest {
    @TempDir
    Path dir;

    /** A CA and a server certificate for the given IP addresses, as PEM files and as an SSLContext. */
    private SSLContext certificates(Path pki, String... addresses) throws Exception {
        String p = pki.toString();
        NbdTestServer.runOk("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p + "/ca-key.pem",
            "-out", p + "/ca-cert.pem", "-days", "2", "-subj", "/CN=fivenines-test-ca");
        NbdTestServer.runOk("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", p + "/server-key.pem",
            "-out", p + "/server.csr", "-subj", "/CN=" + addresses[0]);
        Files.writeString(pki.resolve("ext.cnf"), "subjectAltName=" + String.join(",",
            java.util.Arrays.stream(addresses).map(a -> "IP:" + a).toList()) + "\nextendedKeyUsage=serverAuth\n");
        NbdTestServer.runOk("openssl", "x509", "-req", "-in", p + "/server.csr", "-CA", p + "/ca-cert.pem",
            "-CAkey", p + "/ca-key.pem", "-CAcreateserial", "-out", p + "/server-cert.pem", "-days", "2",
            "-extfile", p + "/ext.cnf");
        Path store = pki.resolve("server.p12");
        NbdTestServer.runOk("openssl", "pkcs12", "-export", "-in", p + "/server-cert.pem", "-inkey", p + "/server-key.pem",
            "-out", store.toString(), "-passout", "pass:test");
        var keys = KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(store)) {
            keys.load(in, "test".toCharArray());
        }
        var keyManagers = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keyManagers.init(keys, "test".toCharArray());
        var tls = SSLContext.getInstance("TLS");
        tls.init(keyManagers.getKeyManagers(), null, null);
        return tls;
    }

    @Test
    void clientsUpgradeToTlsAndMoveData() throws Exception {
        Path pki = Files.createDirectories(dir.resolve("pki"));
        SSLContext tls = certificates(pki, "127.0.0.1");
        Path disk = NbdTestServer.sparseFile(dir, "disk.img", 16L << 20);
        var registry = new ExportRegistry();
        try (var export = FileExport.wholeFile("disk", disk, false);
             var server = new NbdServer(NbdServer.Config.tcpAndUnix("127.0.0.1", 0, null).withTls(tls, false), registry)) {
            registry.add(export);
            server.start();
            int port = server.tcpPort();
            String info = NbdTestServer.runOk("nbdinfo", "nbds://127.0.0.1:" + port + "/disk?tls-certificates=" + pki).out();
            assertTrue(info.contains("with TLS"), info);
            String object = "tls-creds-x509,id=tls0,endpoint=client,dir=" + pki;
            String image = "driver=nbd,host=127.0.0.1,port=" + port + ",export=disk,tls-creds=tls0";
            NbdTestServer.runOk("qemu-io", "--object", object, "--image-opts", image,
                "-c", "write -P 0x7e 4096 8192", "-c", "read -P 0x7e 4096 8192");
            // a client that trusts another CA is refused
            Path stranger = Files.createDirectories(dir.resolve("stranger"));
            NbdTestServer.runOk("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                stranger + "/ca-key.pem", "-out", stranger + "/ca-cert.pem", "-days", "2", "-subj", "/CN=other");
            var refused = NbdTestServer.run("nbdinfo", "nbds://127.0.0.1:" + port + "/disk?tls-certificates=" + stranger);
            assertTrue(refused.exit() != 0, refused.out());
        }
        byte[] stored = Files.readAllBytes(disk);
        assertTrue(stored[4096] == 0x7e && stored[4096 + 8191] == 0x7e, "the data crossed TLS into the file");
    }

    /**
     * A client on another host: a network namespace this test makes, joined to this host by a
     * veth pair, so that the traffic never leaves the machine and the server sees a remote peer.
     */
    @Test
    void tcpClientsFromOtherHostsMustUpgradeWhileTheUnixSocketNeedNot() throws Exception {
        String suffix = Long.toString(ProcessHandle.current().pid() % 100000);
        String namespace = "nines-tls-" + suffix;
        String hostSide = "nt" + suffix + "h";
        String address = "10.231." + (ProcessHandle.current().pid() % 200 + 1) + ".1";
        String peer = address.substring(0, address.length() - 1) + "2";
        boolean made = NbdTestServer.run("ip", "netns", "add", namespace).exit() == 0;
        assumeTrue(made, "network namespaces cannot be made here (needs root and iproute2)");
        try {
            NbdTestServer.runOk("ip", "link", "add", hostSide, "type", "veth", "peer", "name", "nt" + suffix + "n");
            NbdTestServer.runOk("ip", "link", "set", "nt" + suffix + "n", "netns", namespace);
            NbdTestServer.runOk("ip", "addr", "add", address + "/30", "dev", hostSide);
            NbdTestServer.runOk("ip", "link", "set", hostSide, "up");
            NbdTestServer.runOk("ip", "netns", "exec", namespace, "ip", "addr", "add", peer + "/30", "dev", "nt" + suffix + "n");
            NbdTestServer.runOk("ip", "netns", "exec", namespace, "ip", "link", "set", "nt" + suffix + "n", "up");
            NbdTestServer.runOk("ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up");

            Path pki = Files.createDirectories(dir.resolve("pki"));
            SSLContext tls = certificates(pki, address, "127.0.0.1");
            Path disk = NbdTestServer.sparseFile(dir, "disk.img", 8L << 20);
            var registry = new ExportRegistry();
            Path socket = dir.resolve("nbd.sock");
            var config = NbdServer.Config.builder().tcp(address, 0).unixSocket(socket).tls(tls, true).build();
            try (var export = FileExport.wholeFile("disk", disk, false); var server = new NbdServer(config, registry)) {
                registry.add(export);
                server.start();
                int port = server.tcpPort();
                var plain = NbdTestServer.run("ip", "netns", "exec", namespace, "nbdinfo", "nbd://" + address + ":" + port + "/disk");
                assertNotEquals(0, plain.exit(), plain.out());
                assertTrue(plain.out().toLowerCase().contains("tls"), "the refusal says TLS is required: " + plain.out());
                String secure = NbdTestServer.runOk("ip", "netns", "exec", namespace, "nbdinfo",
                    "nbds://" + address + ":" + port + "/disk?tls-certificates=" + pki).out();
                assertTrue(secure.contains("with TLS"), secure);
                assertTrue(NbdTestServer.runOk("nbdinfo", "nbd+unix:///disk?socket=" + socket).out().contains("8388608"));
            }
        } finally {
            NbdTestServer.run("ip", "link", "del", hostSide);
            NbdTestServer.run("ip", "netns", "del", namespace);
        }
    }

    /** An SSLContext that trusts the test CA in {@code pki} and presents no certificate of its own. */
    private static SSLContext trusting(Path pki) throws Exception {
        var anchors = KeyStore.getInstance("PKCS12");
        anchors.load(null, null);
        try (var in = Files.newInputStream(pki.resolve("ca-cert.pem"))) {
            anchors.setCertificateEntry("ca", java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        var trust = javax.net.ssl.TrustManagerFactory.getInstance(javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
        trust.init(anchors);
        var tls = SSLContext.getInstance("TLS");
        tls.init(null, trust.getTrustManagers(), null);
        return tls;
    }

    /**
     * Our own client over TLS with requests in flight from several threads at once, small and
     * large (many records per request, replies of many records read in pieces), then nbdcopy
     * (GnuTLS) reading the whole disk through the server's TLS: every byte as written.
     */
    @Test
    void manyConcurrentRequestsOfEverySizeCrossTlsIntact() throws Exception {
        Path pki = Files.createDirectories(dir.resolve("pki"));
        SSLContext tls = certificates(pki, "127.0.0.1");
        long size = 64L << 20;
        Path disk = NbdTestServer.sparseFile(dir, "disk.img", size);
        var registry = new ExportRegistry();
        byte[] expected = new byte[(int) size];
        try (var export = FileExport.wholeFile("disk", disk, false);
             var server = new NbdServer(NbdServer.Config.tcpAndUnix("127.0.0.1", 0, null).withTls(tls, true), registry)) {
            registry.add(export);
            server.start();
            try (var client = NbdClient.connectTcp("127.0.0.1", server.tcpPort(), "disk", java.time.Duration.ofSeconds(30), trusting(pki))) {
                int threads = 4;
                long slice = size / threads;
                var pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
                var done = new java.util.ArrayList<java.util.concurrent.Future<?>>();
                for (int t = 0; t < threads; t++) {
                    long base = t * slice;
                    int seed = t;
                    done.add(pool.submit(() -> {
                        var random = new java.util.Random(seed);
                        int[] sizes = {1, 511, 4096, 16383, 16384, 16385, 65536, 300_000, 1 << 20, 4 << 20};
                        long at = base;
                        for (int i = 0; at < base + slice; i++) {
                            int length = (int) Math.min(sizes[i % sizes.length], base + slice - at);
                            byte[] data = new byte[length];
                            random.nextBytes(data);
                            ByteBuffer source = i % 2 == 0 ? ByteBuffer.wrap(data) : ByteBuffer.allocateDirect(length).put(data).flip();
                            client.write(at, source, false);
                            System.arraycopy(data, 0, expected, (int) at, length);
                            ByteBuffer back = i % 3 == 0 ? ByteBuffer.allocate(length) : ByteBuffer.allocateDirect(length);
                            client.read(at, back);
                            byte[] read = new byte[length];
                            back.flip().get(read);
                            if (!java.util.Arrays.equals(data, read)) {
                                throw new AssertionError("a " + length + "-byte read at " + at + " differs from what was written");
                            }
                            at += length;
                        }
                        return null;
                    }));
                }
                for (var future : done) {
                    future.get();
                }
                pool.shutdown();
                client.flush();
            }
            Path copy = dir.resolve("copy.img");
            NbdTestServer.runOk("nbdcopy", "nbds://127.0.0.1:" + server.tcpPort() + "/disk?tls-certificates=" + pki, copy.toString());
            assertTrue(java.util.Arrays.equals(expected, Files.readAllBytes(copy)), "nbdcopy over TLS read what was written");
        }
        assertTrue(java.util.Arrays.equals(expected, Files.readAllBytes(disk)), "the file holds what was written over TLS");
    }
}
