package fivenines.store;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;

/**
 * Signs store messages with the cluster secret (HMAC-SHA256) and checks them on the
 * leader before anything reaches the log, so nothing without the credential is committed.
 */
final class MessageAuthenticator {
    static final int TAG_LENGTH = 32;
    private final SecretKeySpec key;
    /**
     * Initialised Macs, taken by one message at a time and given back: {@code Mac.getInstance}
     * searches the security providers and {@code init} sets the key up again, which on every message
     * was a twentieth of the API's request threads' CPU under the store benchmark. A pool rather than
     * one per thread: the API runs each request on a virtual thread of its own. {@code doFinal}
     * leaves a Mac ready for the next message.
     */
    private final java.util.concurrent.ConcurrentLinkedQueue<Mac> macs = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private static final int MACS_KEPT = 64;

    MessageAuthenticator(byte[] secret) {
        if (secret == null || secret.length < 16) {
            throw new IllegalArgumentException("the cluster secret must be at least 16 bytes");
        }
        this.key = new SecretKeySpec(secret.clone(), "HmacSHA256");
        macs.add(newMac()); // a JDK without HmacSHA256 fails here, not on the first message
    }

    private Mac newMac() {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(key);
            return mac;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available in this JDK", e);
        }
    }

    byte[] sign(byte[] payload) {
        byte[] tag = tag(payload, 0, payload.length);
        byte[] signed = Arrays.copyOf(tag, TAG_LENGTH + payload.length);
        System.arraycopy(payload, 0, signed, TAG_LENGTH, payload.length);
        return signed;
    }

    /** Returns the payload of a signed message, or throws if the tag does not match. */
    byte[] open(byte[] signed) {
        if (signed.length < TAG_LENGTH) {
            throw new SecurityException("store message of " + signed.length + " bytes has no credential");
        }
        byte[] expected = tag(signed, TAG_LENGTH, signed.length - TAG_LENGTH);
        if (!MessageDigest.isEqual(expected, Arrays.copyOf(signed, TAG_LENGTH))) {
            throw new SecurityException("store message refused: its credential does not match this cluster's secret");
        }
        return Arrays.copyOfRange(signed, TAG_LENGTH, signed.length);
    }

    private byte[] tag(byte[] data, int offset, int length) {
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
