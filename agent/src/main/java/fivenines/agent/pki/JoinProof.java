package fivenines.agent.pki;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.util.HexFormat;

/**
 * How a joining node comes to trust the cluster's CA before it sends the join token: it asks a
 * member (over TLS it cannot check yet) for the CA's certificate with a fresh nonce, and the
 * member answers with an HMAC of both under a key derived from the token. Only a holder of the
 * token can answer; the joining node then trusts that CA alone and sends the token over it.
 */
public final class JoinProof {
    private static final SecureRandom RANDOM = new SecureRandom();

    private JoinProof() {
    }

    public static String nonce() {
        byte[] bytes = new byte[32];
        RANDOM.nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    /** The proof; its key is derived from the token, so it is never an HMAC the store would take for a command's. */
    public static String of(String token, String nonce, X509Certificate authority) {
        try {
            var derive = Mac.getInstance("HmacSHA256");
            derive.init(new SecretKeySpec(token.getBytes(StandardCharsets.US_ASCII), "HmacSHA256"));
            byte[] key = derive.doFinal("fivenines join proof 1".getBytes(StandardCharsets.US_ASCII));
            var mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            mac.update(nonce.getBytes(StandardCharsets.US_ASCII));
            mac.update(authority.getEncoded());
            return HexFormat.of().formatHex(mac.doFinal());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JDK has no HmacSHA256", e);
        }
    }

    /** Trusts servers whose chain leads to {@code authority} (and checks their address). */
    public static SSLContext trusting(X509Certificate authority) {
        try {
            var anchors = KeyStore.getInstance("PKCS12");
            anchors.load(null, null);
            anchors.setCertificateEntry("ca", authority);
            var factory = TrustManagerFactory.getInstance("PKIX");
            factory.init(anchors);
            var context = SSLContext.getInstance("TLS");
            context.init(null, factory.getTrustManagers(), null);
            return context;
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new IllegalStateException("cannot trust the cluster's CA: " + e.getMessage(), e);
        }
    }

    /** For the one request that fetches the CA and its proof: nothing secret is sent over it, and its answer is checked. */
    public static SSLContext trustingAnyone() {
        try {
            var context = SSLContext.getInstance("TLS");
            context.init(null, new TrustManager[]{new Anyone()}, null);
            return context;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JDK has no TLS", e);
        }
    }

    private static final class Anyone extends X509ExtendedTrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
