package fivenines.agent.pki;

import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Makes the cluster's certificates: the CA's own (self-signed, made at {@code cluster init}) and
 * each node's (signed by the CA when the node joins). Keys are ECDSA P-256, signatures SHA-256.
 * A node certificate names the node in its CN and its addresses as subject alternative names, and
 * serves both ends of a connection (server and client authentication).
 */
public final class Certificates {
    static final Duration CA_VALIDITY = Duration.ofDays(20 * 365);
    static final Duration NODE_VALIDITY = Duration.ofDays(10 * 365);
    /** Clocks of two nodes may differ: a certificate is valid from a little before it was made. */
    private static final Duration BACKDATE = Duration.ofHours(1);
    private static final String ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
    private static final SecureRandom RANDOM = new SecureRandom();

    private Certificates() {
    }

    public static KeyPair newKeyPair() {
        try {
            var generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JDK cannot make P-256 keys", e);
        }
    }

    /** The cluster's CA certificate, self-signed. */
    public static X509Certificate authority(String clusterName, KeyPair ca, Instant now) {
        byte[] name = name(clusterName, "fivenines cluster CA " + clusterName);
        byte[] keyId = keyIdentifier(ca.getPublic());
        byte[] extensions = Der.sequence(
            extension("2.5.29.19", true, Der.sequence(Der.bool(true))),
            extension("2.5.29.15", true, Der.namedBits(5, 6)),
            extension("2.5.29.14", false, Der.octetString(keyId)));
        return sign(name, name, ca.getPublic(), ca.getPrivate(), now, CA_VALIDITY, extensions);
    }

    /**
     * A node's certificate, signed by the CA.
     *
     * @param addresses the node's host names or IP addresses, as other nodes and the CLI reach it
     */
    public static X509Certificate node(X509Certificate ca, PrivateKey caKey, String clusterName, String nodeName,
                                       PublicKey nodeKey, List<String> addresses, Instant now) {
        byte[] extensions = Der.sequence(
            extension("2.5.29.19", true, Der.sequence()),
            extension("2.5.29.15", true, Der.namedBits(0)),
            extension("2.5.29.37", false, Der.sequence(Der.oid("1.3.6.1.5.5.7.3.1"), Der.oid("1.3.6.1.5.5.7.3.2"))),
            extension("2.5.29.17", false, subjectAltNames(addresses)),
            extension("2.5.29.14", false, Der.octetString(keyIdentifier(nodeKey))),
            extension("2.5.29.35", false, Der.sequence(Der.implicit(0, keyIdentifier(ca.getPublicKey())))));
        return sign(ca.getSubjectX500Principal().getEncoded(), name(clusterName, nodeName), nodeKey, caKey, now,
            NODE_VALIDITY, extensions);
    }

    /** A self-signed server certificate for the given addresses (an agent's API before it is in a cluster). */
    public static X509Certificate selfSigned(String commonName, KeyPair key, List<String> addresses, Instant now) {
        byte[] name = name("-", commonName);
        byte[] extensions = Der.sequence(
            extension("2.5.29.19", true, Der.sequence()),
            extension("2.5.29.15", true, Der.namedBits(0)),
            extension("2.5.29.37", false, Der.sequence(Der.oid("1.3.6.1.5.5.7.3.1"))),
            extension("2.5.29.17", false, subjectAltNames(addresses)),
            extension("2.5.29.14", false, Der.octetString(keyIdentifier(key.getPublic()))));
        return sign(name, name, key.getPublic(), key.getPrivate(), now, NODE_VALIDITY, extensions);
    }

    private static byte[] subjectAltNames(List<String> addresses) {
        var names = new ArrayList<byte[]>();
        for (String address : addresses.stream().distinct().toList()) {
            InetAddress ip = ipLiteral(address);
            names.add(ip != null ? Der.implicit(7, ip.getAddress())
                : Der.implicit(2, address.getBytes(StandardCharsets.US_ASCII)));
        }
        return Der.sequence(names.toArray(byte[][]::new));
    }

    /** The CN of a certificate's subject: the node's name for node certificates. */
    public static String commonName(X509Certificate certificate) {
        for (String part : certificate.getSubjectX500Principal().getName().split("(?<!\\\\),")) {
            if (part.startsWith("CN=")) {
                return part.substring(3).replace("\\", "");
            }
        }
        return "";
    }

    public static String serial(X509Certificate certificate) {
        return certificate.getSerialNumber().toString(16);
    }

    private static InetAddress ipLiteral(String address) {
        try {
            return InetAddress.ofLiteral(address.startsWith("[") ? address.substring(1, address.length() - 1) : address);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    private static byte[] name(String clusterName, String commonName) {
        return Der.sequence(
            Der.set(Der.sequence(Der.oid("2.5.4.10"), Der.utf8("fivenines " + clusterName))),
            Der.set(Der.sequence(Der.oid("2.5.4.3"), Der.utf8(commonName))));
    }

    private static byte[] extension(String oid, boolean critical, byte[] value) {
        return critical ? Der.sequence(Der.oid(oid), Der.bool(true), Der.octetString(value))
            : Der.sequence(Der.oid(oid), Der.octetString(value));
    }

    /** RFC 7093's first method: the leftmost 160 bits of the SHA-256 of the subject public key info. */
    private static byte[] keyIdentifier(PublicKey key) {
        try {
            return Arrays.copyOf(java.security.MessageDigest.getInstance("SHA-256").digest(key.getEncoded()), 20);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static X509Certificate sign(byte[] issuer, byte[] subject, PublicKey subjectKey, PrivateKey issuerKey,
                                        Instant now, Duration validity, byte[] extensions) {
        byte[] serial = new byte[16];
        RANDOM.nextBytes(serial);
        serial[0] &= 0x7f;
        serial[0] |= 0x40; // positive, and always 16 bytes long
        byte[] algorithm = Der.sequence(Der.oid(ECDSA_WITH_SHA256));
        Instant from = now.minus(BACKDATE);
        byte[] tbs = Der.sequence(
            Der.explicit(0, Der.integer(BigInteger.TWO)),
            Der.integer(new BigInteger(serial)),
            algorithm,
            issuer,
            Der.sequence(Der.time(from.atZone(ZoneOffset.UTC)), Der.time(now.plus(validity).atZone(ZoneOffset.UTC))),
            subject,
            subjectKey.getEncoded(),
            Der.explicit(3, extensions));
        try {
            var signer = Signature.getInstance("SHA256withECDSA");
            signer.initSign(issuerKey);
            signer.update(tbs);
            byte[] certificate = Der.sequence(tbs, algorithm, Der.bitString(signer.sign()));
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(certificate));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot sign a certificate: " + e.getMessage(), e);
        }
    }
}
