package fivenines.agent.pki;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;

/**
 * A client's trust in an agent's API: the certificates in the given PEM files (the cluster's
 * CA, and an agent's own start-up certificate before it is in a cluster). The files are read at
 * every handshake, so a CLI or test that starts before {@code cluster init} trusts the CA made by it.
 */
public final class TrustedFiles implements X509TrustManager {
    private final List<Path> files;

    private TrustedFiles(List<Path> files) {
        this.files = List.copyOf(files);
    }

    /** A TLS context for clients that trusts the certificates in {@code files} (missing files are skipped). */
    public static SSLContext context(List<Path> files) {
        try {
            var context = SSLContext.getInstance("TLS");
            context.init(null, new TrustManager[]{new TrustedFiles(files)}, null);
            return context;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JDK has no TLS", e);
        }
    }

    /** The files an agent's data directory offers its clients: the cluster's CA and the start-up certificate. */
    public static List<Path> of(Path dataDir) {
        Path pki = dataDir.resolve("pki");
        return List.of(pki.resolve("ca-cert.pem"), pki.resolve(ClusterTls.STARTUP_CERTIFICATE));
    }

    private X509TrustManager current() throws CertificateException {
        var anchors = new ArrayList<X509Certificate>();
        for (Path file : files) {
            try {
                if (Files.isReadable(file)) {
                    anchors.add(Pem.readCertificate(Files.readString(file, StandardCharsets.US_ASCII)));
                }
            } catch (IOException | IllegalArgumentException e) {
                throw new CertificateException("cannot read " + file + ": " + e.getMessage(), e);
            }
        }
        if (anchors.isEmpty()) {
            throw new CertificateException("no certificate to trust in " + files
                + "; copy the cluster's ca-cert.pem (in DATA/pki of any node) here and set NINES_CA to it");
        }
        try {
            var store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            for (int i = 0; i < anchors.size(); i++) {
                store.setCertificateEntry("trusted-" + i, anchors.get(i));
            }
            var factory = TrustManagerFactory.getInstance("PKIX");
            factory.init(store);
            for (TrustManager manager : factory.getTrustManagers()) {
                if (manager instanceof X509TrustManager trust) {
                    return trust;
                }
            }
        } catch (GeneralSecurityException | IOException e) {
            throw new CertificateException("cannot trust " + files + ": " + e.getMessage(), e);
        }
        throw new CertificateException("the JDK's PKIX trust manager is missing");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        current().checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        current().checkServerTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return new X509Certificate[0];
    }
}
