package fivenines.agent;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * The secret that guards the API and the store. An agent makes one on its first start
 * ({@code DATA/secret}, mode 0600); {@code cluster init} adopts it as the cluster secret and
 * prints it as the join token; a joining node replaces its own with the cluster's.
 */
public final class Credentials {
    private static final SecureRandom RANDOM = new SecureRandom();
    private final Path file;
    private volatile String secret;
    /** The secret before the last rotation, taken until {@link #previousUntil}, or null. */
    private volatile String previous;
    private volatile long previousUntil;

    private Credentials(Path file, String secret) {
        this.file = file;
        this.secret = secret;
    }

    public static Credentials loadOrCreate(Path dataDir) {
        Path file = dataDir.resolve("secret");
        try {
            if (Files.exists(file)) {
                String secret = Files.readString(file, StandardCharsets.UTF_8).strip();
                if (!secret.matches("[0-9a-f]{64}")) {
                    throw new IllegalStateException("the secret in " + file
                        + " is not 64 hex digits; restore it from another node's data directory or delete it to make a new one");
                }
                return new Credentials(file, secret);
            }
            var credentials = new Credentials(file, newSecret());
            credentials.write();
            return credentials;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read or write the secret at " + file, e);
        }
    }

    /** A new secret: 32 random bytes as 64 hex digits. */
    public static String newSecret() {
        byte[] bytes = new byte[32];
        RANDOM.nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    public String secret() {
        return secret;
    }

    public byte[] secretBytes() {
        return secret.getBytes(StandardCharsets.US_ASCII);
    }

    public Path file() {
        return file;
    }

    public void replace(String newSecret) {
        if (newSecret == null || !newSecret.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("a cluster token is 64 hex digits, as 'nines cluster init' printed it");
        }
        secret = newSecret;
        write();
    }

    /**
     * After a rotation of the cluster secret: {@code newSecret} from now on, and the one it replaces
     * still taken for {@code grace} (by {@link System#nanoTime()}), while the other nodes switch too.
     */
    public synchronized void rotate(String newSecret, java.time.Duration grace) {
        String before = secret;
        replace(newSecret);
        previous = before;
        previousUntil = System.nanoTime() + grace.toNanos();
    }

    public boolean matches(String presented) {
        if (presented == null) {
            return false;
        }
        byte[] given = presented.getBytes(StandardCharsets.US_ASCII);
        if (MessageDigest.isEqual(given, secret.getBytes(StandardCharsets.US_ASCII))) {
            return true;
        }
        String before = previous;
        return before != null && System.nanoTime() - previousUntil < 0
            && MessageDigest.isEqual(given, before.getBytes(StandardCharsets.US_ASCII));
    }

    public static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available in this JDK", e);
        }
    }

    private void write() {
        try {
            Path temporary = file.resolveSibling("secret.tmp");
            Files.deleteIfExists(temporary);
            Files.createFile(temporary, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(temporary, secret + "\n", StandardCharsets.UTF_8);
            Files.move(temporary, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the secret to " + file, e);
        }
    }
}
