package fivenines.agent.cluster;

import fivenines.agent.Credentials;
import fivenines.model.cluster.Membership.SecretRotation;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.List;
import java.util.Optional;

/**
 * The cluster secret's rotations as the store keeps them: each new secret sealed (AES-256-GCM)
 * under a key derived from the secret before it, with both digests bound in, so that any node
 * holding an earlier secret (also one that was down through several rotations) opens them in
 * turn, and the store, its snapshots and its log never hold a usable secret.
 */
public final class SecretRotations {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int IV_BYTES = 12;

    private SecretRotations() {
    }

    /** {@code next} sealed under {@code previous}. */
    public static String seal(String previous, String next) {
        try {
            byte[] iv = new byte[IV_BYTES];
            RANDOM.nextBytes(iv);
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.ENCRYPT_MODE, key(previous), new GCMParameterSpec(128, iv));
            cipher.updateAAD(binding(Credentials.sha256(previous), Credentials.sha256(next)));
            byte[] sealed = cipher.doFinal(next.getBytes(StandardCharsets.US_ASCII));
            return Base64.getEncoder().encodeToString(ByteBuffer.allocate(iv.length + sealed.length).put(iv).put(sealed).array());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM is not available in this JDK", e);
        }
    }

    /** The secret {@code rotation} brought in, opened with the one before it; throws when it does not open. */
    public static String open(String previous, SecretRotation rotation) {
        try {
            byte[] all = Base64.getDecoder().decode(rotation.sealed());
            Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            cipher.init(Cipher.DECRYPT_MODE, key(previous), new GCMParameterSpec(128, all, 0, IV_BYTES));
            cipher.updateAAD(binding(rotation.previousSha256(), rotation.secretSha256()));
            String next = new String(cipher.doFinal(all, IV_BYTES, all.length - IV_BYTES), StandardCharsets.US_ASCII);
            if (!Credentials.sha256(next).equals(rotation.secretSha256())) {
                throw new IllegalStateException("the secret rotated in at index " + rotation.index() + " does not match its digest");
            }
            return next;
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new IllegalStateException("the secret rotated in at index " + rotation.index()
                + " cannot be opened with this node's secret: " + e.getMessage(), e);
        }
    }

    /**
     * The current secret, reached from {@code local} through the rotations, or empty when
     * {@code local} is current. Throws, saying what to do, when {@code local} is none of the
     * secrets the rotations start from: the node was away for more rotations than are kept, or
     * (for a moment) its replica is still replaying a state older than its secret.
     */
    public static Optional<String> follow(String local, String currentSha256, List<SecretRotation> rotations) {
        String localSha = Credentials.sha256(local);
        if (localSha.equals(currentSha256)) {
            return Optional.empty();
        }
        int from = -1;
        for (int i = 0; i < rotations.size(); i++) {
            if (rotations.get(i).previousSha256().equals(localSha)) {
                from = i;
                break;
            }
        }
        if (from < 0) {
            throw new IllegalStateException("this node's secret is none the cluster's last " + rotations.size()
                + " rotations start from; leave the cluster here and join again with the current token");
        }
        String secret = local;
        for (int i = from; i < rotations.size(); i++) {
            secret = open(secret, rotations.get(i));
        }
        if (!Credentials.sha256(secret).equals(currentSha256)) {
            throw new IllegalStateException("the cluster's rotations do not lead to its current secret");
        }
        return Optional.of(secret);
    }

    private static SecretKeySpec key(String previous) throws GeneralSecurityException {
        var digest = MessageDigest.getInstance("SHA-256");
        digest.update("fivenines secret rotation\0".getBytes(StandardCharsets.US_ASCII));
        digest.update(previous.getBytes(StandardCharsets.US_ASCII));
        return new SecretKeySpec(digest.digest(), "AES");
    }

    private static byte[] binding(String previousSha256, String nextSha256) {
        return (previousSha256 + ">" + nextSha256).getBytes(StandardCharsets.US_ASCII);
    }
}
