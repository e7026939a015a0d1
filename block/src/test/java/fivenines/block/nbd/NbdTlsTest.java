package fivenines.block.nbd;

import fivenines.block.export.ExportRegistry;
import fivenines.block.export.FileExport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** STARTTLS with real clients: certificates made by openssl, qemu-img/qemu-io and nbdinfo as clients. */
class NbdTlsTest {
    @TempDir
    Path dir;

    @Test
    void clientsUpgradeToTlsAndMoveData() throws Exception {
        Path certs = Files.createDirectories(dir.resolve("pki"));
        String pki = certs.toString();
        NbdTestServer.runOk("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", pki + "/ca-key.pem",
            "-out", pki + "/ca-cert.pem", "-days", "2", "-subj", "/CN=fivenines-test-ca");
        NbdTestServer.runOk("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", pki + "/server-key.pem",
            "-out", pki + "/server.csr", "-subj", "/CN=127.0.0.1");
        Files.writeString(certs.resolve("ext.cnf"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
        NbdTestServer.runOk("openssl", "x509", "-req", "-in", pki + "/server.csr", "-CA", pki + "/ca-cert.pem",
            "-CAkey", pki + "/ca-key.pem", "-CAcreateserial", "-out", pki + "/server-cert.pem", "-days", "2",
            "-extfile", pki + "/ext.cnf");
        NbdTestServer.runOk("openssl", "pkcs12", "-export", "-in", pki + "/server-cert.pem", "-inkey", pki + "/server-key.pem",
            "-out", dir.resolve("server.p12").toString(), "-passout", "pass:test");
        var keys = KeyStore.getInstance("PKCS12");
        try (var in = Files.newInputStream(dir.resolve("server.p12"))) {
            keys.load(in, "test".toCharArray());
        }
        var keyManagers = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keyManagers.init(keys, "test".toCharArray());
        var tls = SSLContext.getInstance("TLS");
        tls.init(keyManagers.getKeyManagers(), null, null);

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
}
