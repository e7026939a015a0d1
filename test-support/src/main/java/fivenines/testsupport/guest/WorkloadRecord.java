package fivenines.testsupport.guest;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The on-disk layout the guest's write workload uses, the same as in /init: record
 * {@code seq} is the 4 KiB block at {@code (seq - 1) * 4096}, an 85-byte header
 * {@code "NINESREC <seq, 10 digits> <sha256 of payload hex>\n"} and 4011 bytes of
 * payload, the line {@code "nines record <seq>\n"} repeated.
 */
final class WorkloadRecord {
    static final int SIZE = 4096;
    static final int HEADER_SIZE = 85;
    static final int PAYLOAD_SIZE = SIZE - HEADER_SIZE;
    static final String MAGIC = "NINESREC ";

    private WorkloadRecord() {
    }

    static byte[] payload(long seq) {
        byte[] line = ("nines record " + seq + "\n").getBytes(StandardCharsets.US_ASCII);
        byte[] payload = new byte[PAYLOAD_SIZE];
        for (int i = 0; i < PAYLOAD_SIZE; i++) {
            payload[i] = line[i % line.length];
        }
        return payload;
    }

    static byte[] encode(long seq) {
        byte[] payload = payload(seq);
        String header = "%s%010d %s\n".formatted(MAGIC, seq, sha256(payload, 0, payload.length));
        byte[] record = new byte[SIZE];
        System.arraycopy(header.getBytes(StandardCharsets.US_ASCII), 0, record, 0, HEADER_SIZE);
        System.arraycopy(payload, 0, record, HEADER_SIZE, PAYLOAD_SIZE);
        return record;
    }

    static String sha256(byte[] bytes, int offset, int length) {
        try {
            var digest = MessageDigest.getInstance("SHA-256");
            digest.update(bytes, offset, length);
            return HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchAlgorithmException impossible) {
            throw new IllegalStateException(impossible);
        }
    }
}
