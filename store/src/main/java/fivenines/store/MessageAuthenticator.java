package fivenines.store;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.LongSupplier;

/**
 * Signs store messages with the cluster secret (HMAC-SHA256) and checks them on the
 * leader before anything reaches the log, so nothing without the credential is committed.
 * After a rotation of the secret it signs with the new one and still takes messages signed
 * with the one before for a grace period: nodes switch when they apply the rotation, one
 * after another, and their messages signed meanwhile are not refused.
 */
final class MessageAuthenticator {
    static final int TAG_LENGTH = 32;
    private static final int MACS_KEPT = 64;

    /**
     * One key and its initialised Macs, taken by one message at a time and given back:
     * {@code Mac.getInstance} searches the security providers and {@code init} sets the key up
     * again, which on every message was a twentieth of the API's request threads' CPU under the
     * store benchmark. A pool rather than one per thread: the API runs each request on a virtual
     * thread of its own. {@code doFinal} leaves a Mac ready for the next message.
     */
    private static final class Key {
        final SecretKeySpec spec;
        final ConcurrentLinkedQueue<Mac> macs = new ConcurrentLinkedQueue<>();

        Key(byte[] secret) {
            if (secret == null || secret.length < 16) {
                throw new IllegalArgumentException("the cluster secret must be at least 16 bytes");
            }
            this.spec = new SecretKeySpec(secret.clone(), "HmacSHA256");
            macs.add(newMac()); // a JDK without HmacSHA256 fails here, not on the first message
        }

        Mac newMac() {
            try {
                Mac mac = Mac.getInstance("HmacSHA256");
                mac.init(spec);
                return mac;
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("HmacSHA256 is not available in this JDK", e);
            }
        }

        byte[] tag(byte[] data, int offset, int length) {
            Mac mac = macs.poll();
            if (mac == null) {
                mac = newMac();
            }
            mac.update(data, offset, length);
            byte[] tag = mac.doFinal();
            if (macs.size() < MACS_KEPT) {
                macs.offer(mac); // one that threw above is not given back
            }
            return tag;
        }
    }

    /** The key messages are signed with, and the one before it with the {@link #nanos} time it is taken until. */
    private record Keys(Key current, Key previous, long previousUntil) {
    }

    private final LongSupplier nanos;
    private volatile Keys keys;

    MessageAuthenticator(byte[] secret) {
        this(secret, System::nanoTime);
    }

    MessageAuthenticator(byte[] secret, LongSupplier nanos) {
        this.nanos = nanos;
        this.keys = new Keys(new Key(secret), null, 0);
    }

    /** Signs with {@code secret} from now on; messages signed with the current one are still taken for {@code grace}. */
    synchronized void rotate(byte[] secret, Duration grace) {
        Keys now = keys;
        keys = new Keys(new Key(secret), now.current(), nanos.getAsLong() + grace.toNanos());
    }

    byte[] sign(byte[] payload) {
        byte[] tag = keys.current().tag(payload, 0, payload.length);
        byte[] signed = Arrays.copyOf(tag, TAG_LENGTH + payload.length);
        System.arraycopy(payload, 0, signed, TAG_LENGTH, payload.length);
        return signed;
    }

    /** Returns the payload of a signed message, or throws if the tag does not match. */
    byte[] open(byte[] signed) {
        if (signed.length < TAG_LENGTH) {
            throw new SecurityException("store message of " + signed.length + " bytes has no credential");
        }
        Keys now = keys;
        byte[] presented = Arrays.copyOf(signed, TAG_LENGTH);
        if (!MessageDigest.isEqual(now.current().tag(signed, TAG_LENGTH, signed.length - TAG_LENGTH), presented)
            && (now.previous() == null || nanos.getAsLong() - now.previousUntil() > 0
                || !MessageDigest.isEqual(now.previous().tag(signed, TAG_LENGTH, signed.length - TAG_LENGTH), presented))) {
            throw new SecurityException("store message refused: its credential does not match this cluster's secret");
        }
        return Arrays.copyOfRange(signed, TAG_LENGTH, signed.length);
    }
}
