package fivenines.store;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class MessageAuthenticatorTest {
    private static final byte[] OLD = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] NEW = "fedcba9876543210fedcba9876543210".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] PAYLOAD = "{\"type\":\"change-config\"}".getBytes(StandardCharsets.UTF_8);

    @Test
    void afterARotationTheOldSecretIsTakenForTheGraceOnlyAndTheNewOneFromThen() {
        var now = new AtomicLong(1_000);
        var leader = new MessageAuthenticator(OLD, now::get);
        var late = new MessageAuthenticator(OLD, now::get); // a node that has not applied the rotation yet
        var stranger = new MessageAuthenticator("ffffffffffffffffffffffffffffffff".getBytes(StandardCharsets.US_ASCII), now::get);
        assertArrayEquals(PAYLOAD, leader.open(late.sign(PAYLOAD)));

        leader.rotate(NEW, Duration.ofSeconds(60));
        assertArrayEquals(PAYLOAD, leader.open(leader.sign(PAYLOAD)), "signed with the new secret");
        assertArrayEquals(PAYLOAD, leader.open(late.sign(PAYLOAD)), "the old one within the grace");
        assertThrows(SecurityException.class, () -> leader.open(stranger.sign(PAYLOAD)));

        now.addAndGet(Duration.ofSeconds(61).toNanos());
        assertThrows(SecurityException.class, () -> leader.open(late.sign(PAYLOAD)), "the old one after the grace");
        late.rotate(NEW, Duration.ofSeconds(60));
        assertArrayEquals(PAYLOAD, leader.open(late.sign(PAYLOAD)), "a node that switched");

        // a second rotation forgets the first secret at once: only the one just replaced has a grace
        leader.rotate(OLD, Duration.ofSeconds(60));
        assertArrayEquals(PAYLOAD, leader.open(late.sign(PAYLOAD)));
        var first = new MessageAuthenticator(NEW, now::get);
        first.rotate("0000000000000000aaaaaaaaaaaaaaaa".getBytes(StandardCharsets.US_ASCII), Duration.ZERO);
        assertThrows(SecurityException.class, () -> leader.open(first.sign(PAYLOAD)));
    }

    @Test
    void aMessageTooShortOrTamperedIsRefused() {
        var authenticator = new MessageAuthenticator(OLD);
        assertThrows(SecurityException.class, () -> authenticator.open(new byte[5]));
        byte[] signed = authenticator.sign(PAYLOAD);
        signed[signed.length - 1] ^= 1;
        assertThrows(SecurityException.class, () -> authenticator.open(signed));
    }
}
