package fivenines.agent.pki;

import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;
import java.util.function.Predicate;

/**
 * This node's part of the cluster's PKI, kept in {@code DATA/pki} (mode 0700): the CA's certificate
 * and key ({@code ca-cert.pem}, {@code ca-key.pem}) and the node's own ({@code node-cert.pem},
 * {@code node-key.pem}); {@code client-cert.pem} and {@code client-key.pem} name the node's files
 * again so that GnuTLS clients (nbdinfo, qemu) can take the folder as it is.
 *
 * <p>{@link #context()} is one TLS context for the node's whole life: its key and trust managers
 * read whatever the node has now, so servers started before {@code cluster init} or {@code join}
 * serve TLS as soon as the node has a certificate. A peer is trusted when its chain leads to the
 * cluster's CA and the store has not revoked it ({@link #refuse}).
 */
public final class ClusterTls {
    /** The self-signed certificate an agent's API serves until the node has one of a cluster. */
    public static final String STARTUP_CERTIFICATE = "startup-cert.pem";
    private static final String ALIAS = "node";
    private final Path dir;
    private volatile Material material;
    private volatile Startup startup;
    private volatile Predicate<X509Certificate> revoked = certificate -> false;
    private final NodeKeys keys = new NodeKeys();
    private final ClusterTrust trust = new ClusterTrust();
    private final SSLContext context;

    private record Startup(X509Certificate certificate, PrivateKey key) {
    }

    private record Material(X509Certificate authority, PrivateKey authorityKey, X509Certificate node, PrivateKey nodeKey,
                            X509ExtendedTrustManager trust) {
    }

    private ClusterTls(Path dir) {
        this.dir = dir;
        try {
            context = SSLContext.getInstance("TLS");
            context.init(new KeyManager[]{keys}, new TrustManager[]{trust}, null);
            // a resumed session skips the trust manager, so a removed node could come back on a session it had:
            // sessions are kept for a second only (the NBD server also checks every session, see accepts)
            context.getServerSessionContext().setSessionTimeout(1);
            context.getServerSessionContext().setSessionCacheSize(1);
            context.getClientSessionContext().setSessionTimeout(1);
            context.getClientSessionContext().setSessionCacheSize(1);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JDK has no TLS", e);
        }
    }

    /** This node's PKI as its data directory has it (nothing before it is in a cluster). */
    public static ClusterTls open(Path dataDir) {
        var tls = new ClusterTls(dataDir.resolve("pki"));
        tls.load();
        return tls;
    }

    /**
     * Makes the self-signed certificate (and key) that the API serves while the node is in no cluster,
     * so that {@code cluster init} and {@code join} reach it over HTTPS: a client on the machine trusts
     * {@code DATA/pki/startup-cert.pem}. Made anew at every start, for the addresses given.
     */
    public synchronized void makeStartupCertificate(String nodeName, List<String> addresses, Instant now) {
        KeyPair key = Certificates.newKeyPair();
        X509Certificate certificate = Certificates.selfSigned("fivenines agent " + nodeName + " (in no cluster yet)", key,
            addresses, now);
        try {
            Files.createDirectories(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
            write("startup-key.pem", Pem.privateKey(key.getPrivate(), key.getPublic()), true);
            write(STARTUP_CERTIFICATE, Pem.certificate(certificate), false);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the start-up certificate to " + dir, e);
        }
        startup = new Startup(certificate, key.getPrivate());
    }

    private void load() {
        Path certificate = dir.resolve("node-cert.pem");
        if (!Files.exists(certificate)) {
            material = null;
            return;
        }
        try {
            Path caKey = dir.resolve("ca-key.pem");
            material = material(Pem.readCertificate(read("ca-cert.pem")),
                Files.exists(caKey) ? Pem.readPrivateKey(read("ca-key.pem")) : null,
                Pem.readCertificate(read("node-cert.pem")), Pem.readPrivateKey(read("node-key.pem")));
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalStateException("the cluster certificates in " + dir + " cannot be read (" + e.getMessage()
                + "); copy ca-cert.pem from another node and rejoin, or restore the folder from a backup", e);
        }
    }

    private String read(String file) throws IOException {
        return Files.readString(dir.resolve(file), StandardCharsets.US_ASCII);
    }

    /** Whether this node has a certificate of its cluster. */
    public boolean ready() {
        return material != null;
    }

    /** Whether this node keeps the CA's key and can sign the certificates of nodes that join. */
    public boolean canSign() {
        Material current = material;
        return current != null && current.authorityKey() != null;
    }

    public SSLContext context() {
        return context;
    }

    /** The node's key and chain as a key manager, for TLS stacks that take managers rather than a context (gRPC). */
    public X509ExtendedKeyManager keyManager() {
        return keys;
    }

    /** Whom this node trusts, as a trust manager: chains to the cluster's CA that the store accepts. */
    public X509ExtendedTrustManager trustManager() {
        return trust;
    }

    public Path directory() {
        return dir;
    }

    public Path authorityFile() {
        return dir.resolve("ca-cert.pem");
    }

    /** The CA's certificate, or null before this node is in a cluster. */
    public X509Certificate authority() {
        Material current = material;
        return current == null ? null : current.authority();
    }

    /** This node's certificate, or null before it is in a cluster. */
    public X509Certificate certificate() {
        Material current = material;
        return current == null ? null : current.node();
    }

    /** Whether the peer of a finished handshake (resumed or not) presented a certificate this node accepts now. */
    public boolean accepts(javax.net.ssl.SSLSession session) {
        try {
            var chain = session.getPeerCertificates();
            if (chain.length == 0 || !(chain[0] instanceof X509Certificate leaf)) {
                return false;
            }
            var x509 = new X509Certificate[chain.length];
            for (int i = 0; i < chain.length; i++) {
                x509[i] = (X509Certificate) chain[i];
            }
            trust.checkClientTrusted(x509, "EC");
            return !revoked.test(leaf);
        } catch (javax.net.ssl.SSLPeerUnverifiedException | CertificateException | ClassCastException e) {
            return false;
        }
    }

    /** Peers whose certificates this test refuses are refused even when their chain is good. */
    public void refuse(Predicate<X509Certificate> test) {
        revoked = test;
    }

    /** At {@code cluster init}: a new CA, and this node's certificate signed by it. */
    public synchronized void createAuthority(String clusterName, String nodeName, List<String> addresses, Instant now) {
        KeyPair ca = Certificates.newKeyPair();
        X509Certificate authority = Certificates.authority(clusterName, ca, now);
        KeyPair node = Certificates.newKeyPair();
        X509Certificate certificate = Certificates.node(authority, ca.getPrivate(), clusterName, nodeName, node.getPublic(),
            addresses, now);
        save(material(authority, ca.getPrivate(), certificate, node.getPrivate()));
    }

    /** On a member that keeps the CA's key: the certificate of a node that joins. */
    public X509Certificate issue(String clusterName, String nodeName, PublicKey key, List<String> addresses, Instant now) {
        Material current = material;
        if (current == null || current.authorityKey() == null) {
            throw new IllegalStateException("this node does not keep the cluster CA's key; join through another member");
        }
        return Certificates.node(current.authority(), current.authorityKey(), clusterName, nodeName, key, addresses, now);
    }

    /** The CA's key, to hand to a node that joins as a full member. */
    public PrivateKey authorityKey() {
        Material current = material;
        return current == null ? null : current.authorityKey();
    }

    /** At {@code join}: what the member answered, with the key this node made for its request. */
    public synchronized void adopt(X509Certificate authority, PrivateKey authorityKey, X509Certificate certificate, KeyPair key) {
        if (!certificate.getPublicKey().equals(key.getPublic())) {
            throw new IllegalArgumentException("the certificate the member signed is not for this node's key");
        }
        try {
            certificate.verify(authority.getPublicKey());
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("the certificate the member sent is not signed by the cluster's CA: " + e.getMessage());
        }
        save(material(authority, authorityKey, certificate, key.getPrivate()));
    }

    /** Forgets the cluster's certificates (after a leave, or a join that failed). */
    public synchronized void forget() {
        material = null;
        for (String file : List.of("client-cert.pem", "client-key.pem", "node-cert.pem", "node-key.pem", "ca-key.pem", "ca-cert.pem")) {
            try {
                Files.deleteIfExists(dir.resolve(file));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot remove " + dir.resolve(file), e);
            }
        }
    }

    private static Material material(X509Certificate authority, PrivateKey authorityKey, X509Certificate node, PrivateKey nodeKey) {
        try {
            var anchors = KeyStore.getInstance("PKCS12");
            anchors.load(null, null);
            anchors.setCertificateEntry("ca", authority);
            var factory = TrustManagerFactory.getInstance("PKIX");
            factory.init(anchors);
            for (TrustManager manager : factory.getTrustManagers()) {
                if (manager instanceof X509ExtendedTrustManager trust) {
                    return new Material(authority, authorityKey, node, nodeKey, trust);
                }
            }
            throw new IllegalStateException("the JDK's PKIX trust manager is missing");
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot trust the cluster CA: " + e.getMessage(), e);
        }
    }

    private void save(Material next) {
        try {
            Files.createDirectories(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
            write("ca-cert.pem", Pem.certificate(next.authority()), false);
            if (next.authorityKey() != null) {
                write("ca-key.pem", Pem.privateKey(next.authorityKey(), next.authority().getPublicKey()), true);
            } else {
                Files.deleteIfExists(dir.resolve("ca-key.pem"));
            }
            write("node-key.pem", Pem.privateKey(next.nodeKey(), next.node().getPublicKey()), true);
            write("node-cert.pem", Pem.certificate(next.node()) + Pem.certificate(next.authority()), false);
            for (String[] link : new String[][]{{"client-cert.pem", "node-cert.pem"}, {"client-key.pem", "node-key.pem"}}) {
                Files.deleteIfExists(dir.resolve(link[0]));
                Files.createSymbolicLink(dir.resolve(link[0]), Path.of(link[1]));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the cluster certificates to " + dir, e);
        }
        material = next;
    }

    private void write(String name, String text, boolean secret) throws IOException {
        Path temporary = dir.resolve(name + ".new");
        Files.deleteIfExists(temporary);
        Files.createFile(temporary, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(secret ? "rw-------" : "rw-r--r--")));
        Files.writeString(temporary, text, StandardCharsets.US_ASCII);
        Files.move(temporary, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The node's key and certificate chain, whatever they are at the moment of a handshake. */
    private final class NodeKeys extends X509ExtendedKeyManager {
        private String alias(String keyType) {
            return (material != null || startup != null) && keyType != null && keyType.startsWith("EC") ? ALIAS : null;
        }

        @Override
        public String[] getClientAliases(String keyType, Principal[] issuers) {
            return alias(keyType) == null ? null : new String[]{ALIAS};
        }

        @Override
        public String chooseClientAlias(String[] keyTypes, Principal[] issuers, Socket socket) {
            return chooseClient(keyTypes);
        }

        @Override
        public String chooseEngineClientAlias(String[] keyTypes, Principal[] issuers, SSLEngine engine) {
            return chooseClient(keyTypes);
        }

        private String chooseClient(String[] keyTypes) {
            for (String type : keyTypes) {
                if (alias(type) != null) {
                    return ALIAS;
                }
            }
            return null;
        }

        @Override
        public String[] getServerAliases(String keyType, Principal[] issuers) {
            return getClientAliases(keyType, issuers);
        }

        @Override
        public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
            return alias(keyType);
        }

        @Override
        public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
            return alias(keyType);
        }

        @Override
        public X509Certificate[] getCertificateChain(String alias) {
            Material current = material;
            Startup before = startup;
            if (!ALIAS.equals(alias)) {
                return null;
            }
            if (current != null) {
                return new X509Certificate[]{current.node(), current.authority()};
            }
            return before == null ? null : new X509Certificate[]{before.certificate()};
        }

        @Override
        public PrivateKey getPrivateKey(String alias) {
            Material current = material;
            Startup before = startup;
            if (!ALIAS.equals(alias)) {
                return null;
            }
            if (current != null) {
                return current.nodeKey();
            }
            return before == null ? null : before.key();
        }
    }

    /** Chains that lead to the cluster's CA, less what the store revoked. */
    private final class ClusterTrust extends X509ExtendedTrustManager {
        private X509ExtendedTrustManager trust() throws CertificateException {
            Material current = material;
            if (current == null) {
                throw new CertificateException("this node is not in a cluster yet and trusts nobody");
            }
            return current.trust();
        }

        private void notRevoked(X509Certificate[] chain) throws CertificateException {
            if (revoked.test(chain[0])) {
                throw new CertificateException("the certificate of '" + Certificates.commonName(chain[0]) + "' (serial "
                    + Certificates.serial(chain[0]) + ") is not that of a member: the node was removed, or its certificate"
                    + " was revoked or replaced");
            }
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            trust().checkClientTrusted(chain, authType, socket);
            notRevoked(chain);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            trust().checkServerTrusted(chain, authType, socket);
            notRevoked(chain);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            trust().checkClientTrusted(chain, authType, engine);
            notRevoked(chain);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            trust().checkServerTrusted(chain, authType, engine);
            notRevoked(chain);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            trust().checkClientTrusted(chain, authType);
            notRevoked(chain);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            trust().checkServerTrusted(chain, authType);
            notRevoked(chain);
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            Material current = material;
            return current == null ? new X509Certificate[0] : new X509Certificate[]{current.authority()};
        }
    }
}
