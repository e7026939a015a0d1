package fivenines.agent.pki;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.math.BigInteger;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;

/** PEM text (RFC 7468) of certificates and unencrypted PKCS #8 keys, as openssl and GnuTLS read them. */
public final class Pem {
    private Pem() {
    }

    public static String certificate(X509Certificate certificate) {
        try {
            return encode("CERTIFICATE", certificate.getEncoded());
        } catch (CertificateEncodingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A P-256 key as PKCS #8 whose ECPrivateKey carries the public point too (RFC 5915): the JDK
     * leaves it out, and GnuTLS refuses such a key ("ASN1 parser: Element was not found").
     */
    public static String privateKey(PrivateKey key, PublicKey publicKey) {
        var ec = (ECPrivateKey) key;
        var point = ((ECPublicKey) publicKey).getW();
        byte[] uncompressed = Der.concat(new byte[]{4}, unsigned(point.getAffineX(), 32), unsigned(point.getAffineY(), 32));
        byte[] inner = Der.sequence(Der.integer(BigInteger.ONE), Der.octetString(unsigned(ec.getS(), 32)),
            Der.explicit(1, Der.bitString(uncompressed)));
        byte[] pkcs8 = Der.sequence(Der.integer(BigInteger.ZERO),
            Der.sequence(Der.oid("1.2.840.10045.2.1"), Der.oid("1.2.840.10045.3.1.7")), Der.octetString(inner));
        return encode("PRIVATE KEY", pkcs8);
    }

    /** A public key as the base64 of its X.509 SubjectPublicKeyInfo, as a join request carries it. */
    public static String publicKey(PublicKey key) {
        return Base64.getEncoder().encodeToString(key.getEncoded());
    }

    public static PublicKey readPublicKey(String base64) {
        try {
            return KeyFactory.getInstance("EC").generatePublic(new X509EncodedKeySpec(Base64.getDecoder().decode(base64)));
        } catch (GeneralSecurityException | IllegalArgumentException | NullPointerException e) {
            throw new IllegalArgumentException("publicKey must be the base64 of an EC public key (X.509 SubjectPublicKeyInfo)");
        }
    }

    private static byte[] unsigned(BigInteger value, int length) {
        byte[] bytes = value.toByteArray();
        byte[] fixed = new byte[length];
        int copy = Math.min(length, bytes.length);
        System.arraycopy(bytes, bytes.length - copy, fixed, length - copy, copy);
        return fixed;
    }

    public static X509Certificate readCertificate(String pem) {
        try {
            return (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
        } catch (CertificateException e) {
            throw new IllegalArgumentException("not a PEM certificate: " + e.getMessage(), e);
        }
    }

    public static PrivateKey readPrivateKey(String pem) {
        String body = pem.replaceAll("-----(BEGIN|END) PRIVATE KEY-----", "").replaceAll("\\s", "");
        try {
            return KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(body)));
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new IllegalArgumentException("not a PEM PKCS #8 EC private key: " + e.getMessage(), e);
        }
    }

    private static String encode(String label, byte[] der) {
        return "-----BEGIN " + label + "-----\n" + Base64.getMimeEncoder(64, new byte[]{'\n'}).encodeToString(der)
            + "\n-----END " + label + "-----\n";
    }
}
