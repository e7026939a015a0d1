package fivenines.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.testsupport.cluster.Lan;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Nobody reaches a disk without a credential. Three agents, each in its own network namespace on a
 * bridge, a fourth namespace as another host on the same network, and the agent's own namespace as
 * its loopback: from each, real clients try every port an agent opens (API, Raft, NBD) without a
 * credential, with plain text where TLS is needed, without a client certificate and with a forged
 * one, and a removed node's certificate. Every try is refused, and the disk and the volume hold
 * what the cluster wrote and nothing else.
 */
class NoCredentialSystemTest extends ClusterSystemTest {
    private static final int STRANGER = 3;
    private Lan lan;

    @AfterEach
    void removeLan() throws Exception {
        if (cluster != null) {
            cluster.close();
            cluster = null;
        }
        if (lan != null) {
            lan.close();
        }
    }

    record Outcome(int exit, String out) {
    }

    private static Outcome run(List<String> command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), command + " hung");
        return new Outcome(process.exitValue(), out);
    }

    private Outcome from(int namespace, String... command) throws Exception {
        return run(lan.inside(namespace, List.of(command)));
    }

    private static String sha256(Path file) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }

    @Test
    void everyPortRefusesClientsWithoutACredentialFromAnotherHostAndFromLoopback() throws Exception {
        boolean root = run(List.of("id", "-u")).out().strip().equals("0");
        assumeTrue(root, "network namespaces need root");
        long pid = ProcessHandle.current().pid();
        lan = new Lan("nc" + pid % 10_000, (int) (pid % 200) + 20, 4);
        cluster = TestCluster.ofThree(dir, lan);
        var node1 = cluster.get("node1");
        String host = lan.address(1);
        int api = node1.apiPort;
        int raft = api + 1;
        int nbd = api + 2;

        // what the cluster itself writes: a PV of node1, a volume on it attached there, data through the Unix socket
        Path pvFile = dir.resolve("pv-node1.img");
        JsonNode pv = Agents.client(node1).post("/v1/pvs", Map.of("path", pvFile.toString(), "size", 64L << 20));
        String pvExport = pv.path("nbdUris").get(0).asText().replaceFirst("^nbd://[^/]+/", "");
        Agents.client(node1).post("/v1/vgs", Map.of("name", "vg", "pvs", List.of("node1:" + pvFile)));
        Agents.client(node1).post("/v1/lvs", Map.of("vg", "vg", "name", "secret", "size", 8L << 20));
        Agents.client(node1).post("/v1/lvs/vg/secret/attach", Map.of("node", "node1", "shared", false, "force", false));
        String socket = node1.dataDir.resolve("nbd.sock").toString();
        assertEquals(0, run(List.of("qemu-io", "-f", "raw", "-c", "write -P 0x5a 0 8M", "-c", "flush",
            "nbd+unix:///vg/secret?socket=" + socket)).exit());
        String pvBefore = sha256(pvFile);
        long appliedBefore = Agents.status(node1).path("appliedIndex").asLong();

        Path junk = dir.resolve("junk.img");
        Files.write(junk, new byte[8 << 20]);
        Files.writeString(junk, "overwritten");
        // credentials a stranger could make: the cluster's CA certificate (public) with no certificate of its
        // own, and a certificate named node0 from a CA of its own
        Path anonymous = Files.createDirectories(dir.resolve("anonymous"));
        Files.copy(cluster.get("node0").dataDir.resolve("pki/ca-cert.pem"), anonymous.resolve("ca-cert.pem"));
        Path forged = forgedCertificates(anonymous.resolve("ca-cert.pem"));

        var refused = new ArrayList<String>();
        // STRANGER is another host on the network; 1 is node1's own namespace, where its address is local
        for (int where : List.of(STRANGER, 1)) {
            String plain = "nbd://" + host + ":" + nbd;
            String secure = "nbds://" + host + ":" + nbd;
            for (String export : List.of(pvExport, "vg/secret")) {
                expectRefused(refused, from(where, "nbdinfo", "--list", plain), where, "nbdinfo --list (plain)");
                expectRefused(refused, from(where, "nbdinfo", plain + "/" + export), where, "nbdinfo " + export);
                expectRefused(refused, from(where, "nbdcopy", junk.toString(), plain + "/" + export), where, "nbdcopy write " + export);
                expectRefused(refused, from(where, "nbdcopy", plain + "/" + export, dir.resolve("stolen").toString()), where,
                    "nbdcopy read " + export);
                expectRefused(refused, from(where, "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", junk.toString(),
                    plain + "/" + export), where, "qemu-img write " + export);
                for (Path credentials : List.of(anonymous, forged)) {
                    String tls = "?tls-certificates=" + credentials;
                    expectRefused(refused, from(where, "nbdinfo", "--list", secure + tls), where, "nbdinfo --list TLS " + credentials);
                    expectRefused(refused, from(where, "nbdcopy", junk.toString(), secure + "/" + export + tls), where,
                        "nbdcopy write TLS " + credentials.getFileName() + " " + export);
                }
            }
            // the API is HTTPS: plain HTTP gets no answer, and over TLS nothing is done without the token
            String ca = cluster.get("node0").dataDir.resolve("pki/ca-cert.pem").toString();
            for (String route : List.of("GET /v1/pvs", "GET /v1/lvs", "GET /v1/cluster/status", "POST /v1/cluster/join-offer",
                "POST /v1/lvs", "POST /v1/cluster/remove", "POST /v1/lvs/vg/secret/attach", "DELETE /v1/lvs/vg/secret")) {
                String method = route.substring(0, route.indexOf(' '));
                String path = route.substring(route.indexOf(' ') + 1);
                Outcome plainHttp = from(where, "curl", "-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", "-X", method,
                    "-d", "{}", "http://" + host + ":" + api + path);
                assertNotEquals("200", plainHttp.out(), route + " over plain HTTP");
                assertNotEquals("401", plainHttp.out(), route + " over plain HTTP reached the API");
                Outcome wrong = from(where, "curl", "-s", "-m", "10", "--cacert", ca, "-o", "/dev/null", "-w", "%{http_code}",
                    "-X", method, "-H", "Authorization: Bearer " + "0".repeat(64), "-d", "{}", "https://" + host + ":" + api + path);
                assertEquals("401", wrong.out(), route + " with a wrong token");
                Outcome bare = from(where, "curl", "-s", "-m", "10", "-k", "-o", "/dev/null", "-w", "%{http_code}", "-X", method,
                    "-d", "{}", "https://" + host + ":" + api + path);
                assertEquals("401", bare.out(), route + " without a token");
                refused.add(route + " over plain HTTP, without a token and with a wrong one, from " + vantage(where));
            }
            // the API's certificate is the node's, from the cluster's CA: a client that checks it is not fooled
            Outcome verified = from(where, "curl", "-s", "-m", "10", "--cacert", ca, "https://" + host + ":" + api + "/v1/health");
            assertTrue(verified.out().contains("\"ok\""), verified.out());
            // Raft's gRPC is mutual TLS: a plain-text call, a TLS client without a certificate and one with a forged
            // certificate are cut off in the handshake
            Outcome raftPlain = from(where, "curl", "-s", "-m", "5", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                "%{http_code}", "http://" + host + ":" + raft + "/ratis.grpc.RaftClientProtocolService/ordered");
            assertNotEquals("200", raftPlain.out(), "Raft's port answered plain text");
            refused.add("Raft over plain text (HTTP/2) from " + vantage(where));
            for (Path credentials : List.of(anonymous, forged)) {
                var command = new ArrayList<>(List.of("sh", "-c", "sleep 2 | timeout 10 openssl s_client -connect " + host + ":" + raft
                    + " -CAfile " + ca + " -alpn h2 -quiet"
                    + (credentials == forged ? " -cert " + forged.resolve("client-cert.pem") + " -key " + forged.resolve("client-key.pem") : "")));
                Outcome handshake = run(lan.inside(where, command));
                System.out.println("raft TLS with " + credentials.getFileName() + ": " + handshake.out().strip());
                assertTrue(handshake.out().contains("alert") || handshake.out().contains("error"),
                    "Raft's port took a TLS client with " + credentials.getFileName() + ": " + handshake.out());
                refused.add("Raft over TLS with " + credentials.getFileName() + " credentials from " + vantage(where));
            }
        }

        // a node's own certificate works (the refusals above are not a broken setup) ...
        Path node2Pki = cluster.get("node2").dataDir.resolve("pki");
        Path copied = Files.createDirectories(dir.resolve("node2-pki"));
        for (String file : List.of("ca-cert.pem", "client-cert.pem", "client-key.pem")) {
            Files.copy(node2Pki.resolve(file), copied.resolve(file));
        }
        Outcome listed = from(STRANGER, "nbdinfo", "--list", "nbds://" + host + ":" + nbd + "?tls-certificates=" + copied);
        assertEquals(0, listed.exit(), listed.out());
        assertTrue(listed.out().contains("vg/secret"), listed.out());
        String ca = copied.resolve("ca-cert.pem").toString();
        Outcome member = run(lan.inside(STRANGER, List.of("sh", "-c", "sleep 2 | timeout 10 openssl s_client -connect " + host
            + ":" + raft + " -CAfile " + ca + " -alpn h2 -quiet -cert " + copied.resolve("client-cert.pem") + " -key "
            + copied.resolve("client-key.pem"))));
        assertFalse(member.out().contains("alert") || member.out().contains("error"), "a member's certificate: " + member.out());
        // ... until that node is removed: its certificate is refused by every server from then on
        cluster.get("node2").kill();
        Agents.client(cluster.get("node0")).post("/v1/cluster/remove", Map.of("node", "node2"));
        TestCluster.await(node1, s -> s.path("nodes").size() == 2, Duration.ofSeconds(30), "node2 removed");
        expectRefused(refused, from(STRANGER, "nbdinfo", "--list", "nbds://" + host + ":" + nbd + "?tls-certificates=" + copied),
            STRANGER, "nbdinfo --list with the removed node's certificate");

        assertEquals(pvBefore, sha256(pvFile), "no client without a credential changed the physical volume");
        Outcome back = run(List.of("qemu-io", "-f", "raw", "-c", "read -P 0x5a 0 8M", "nbd+unix:///vg/secret?socket=" + socket));
        assertEquals(0, back.exit(), back.out());
        assertFalse(back.out().contains("Pattern verification failed"), back.out());
        assertTrue(Agents.status(node1).path("appliedIndex").asLong() >= appliedBefore);
        assertEquals(1, Agents.client(node1).get("/v1/lvs").size(), "the volume is still there");
        System.out.println("refused: " + refused.size() + " tries\n  " + String.join("\n  ", refused));
    }

    private static String vantage(int where) {
        return where == STRANGER ? "another host" : "the node itself";
    }

    private void expectRefused(List<String> refused, Outcome outcome, int where, String what) {
        String vantage = where == STRANGER ? "another host" : "the node itself";
        assertNotEquals(0, outcome.exit(), what + " from " + vantage + " succeeded: " + outcome.out());
        // a client repeats the name it asked for; a listing must learn none
        if (what.startsWith("nbdinfo --list")) {
            assertFalse(outcome.out().contains("pv-") || outcome.out().contains("vg/secret"),
                what + " from " + vantage + " named an export: " + outcome.out());
        }
        refused.add(what + " from " + vantage);
    }

    /** A CA of the stranger's own and a certificate from it named like a node, beside the cluster's CA certificate. */
    private Path forgedCertificates(Path clusterCa) throws Exception {
        Path forged = Files.createDirectories(dir.resolve("forged"));
        String d = forged.toString();
        assertEquals(0, run(List.of("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", d + "/own-ca-key.pem", "-out", d + "/own-ca.pem", "-days", "2", "-subj", "/O=fivenines test/CN=fivenines cluster CA test")).exit());
        assertEquals(0, run(List.of("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", d + "/client-key.pem", "-out", d + "/client.csr", "-subj", "/O=fivenines test/CN=node0")).exit());
        Files.writeString(forged.resolve("ext.cnf"), "extendedKeyUsage=clientAuth,serverAuth\n");
        assertEquals(0, run(List.of("openssl", "x509", "-req", "-in", d + "/client.csr", "-CA", d + "/own-ca.pem", "-CAkey",
            d + "/own-ca-key.pem", "-CAcreateserial", "-out", d + "/client-cert.pem", "-days", "2", "-extfile", d + "/ext.cnf")).exit());
        Files.copy(clusterCa, forged.resolve("ca-cert.pem"));
        return forged;
    }
}
