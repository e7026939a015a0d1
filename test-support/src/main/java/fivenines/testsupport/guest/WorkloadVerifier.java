package fivenines.testsupport.guest;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a disk the write workload wrote and checks it: records 1..N contiguous, each at
 * its own position with a right checksum and payload, nothing after N but zeros. One
 * exception is allowed: the block right after N may be a torn record (written while the
 * guest was stopped, so never acknowledged).
 */
public final class WorkloadVerifier {

    /**
     * What the disk holds.
     *
     * @param lastSequence N, the last record of the unbroken run 1..N
     * @param tornTail whether the block after N is a partial record
     * @param problems gaps, duplicates, misplaced or corrupt records; empty when intact
     */
    public record Result(long lastSequence, boolean tornTail, List<String> problems) {
        public boolean intact() {
            return problems.isEmpty();
        }

        /** Fails unless the disk is intact and holds every acknowledged record, and at most one more. */
        public void requireHolds(long acknowledged) {
            if (!intact()) {
                throw new AssertionError("workload disk damaged: " + problems);
            }
            if (lastSequence < acknowledged) {
                throw new AssertionError("acknowledged writes lost: console acknowledged seq " + acknowledged
                        + " but the disk holds records up to " + lastSequence);
            }
            if (lastSequence > acknowledged + 1) {
                throw new AssertionError("disk holds records up to " + lastSequence
                        + " but only " + acknowledged + " were acknowledged: more than one write in flight");
            }
        }
    }

    private WorkloadVerifier() {
    }

    public static Result verify(Path disk) throws IOException {
        try (InputStream in = Files.newInputStream(disk)) {
            return verify(in);
        }
    }

    public static Result verify(InputStream disk) throws IOException {
        var problems = new ArrayList<String>();
        Map<Long, Long> firstBlockBySequence = new HashMap<>();
        byte[] block = new byte[WorkloadRecord.SIZE];
        long last = 0;
        boolean runEnded = false;
        boolean tornTail = false;
        long blockIndex = 0;
        int read;
        while ((read = disk.readNBytes(block, 0, block.length)) > 0) {
            if (read < block.length) {
                Arrays.fill(block, read, block.length, (byte) 0);
            }
            long position = blockIndex + 1;
            blockIndex++;
            if (isZero(block)) {
                runEnded = true;
                continue;
            }
            long seq = headerSequence(block);
            if (seq > 0) {
                Long earlier = firstBlockBySequence.putIfAbsent(seq, position);
                if (earlier != null) {
                    problems.add("duplicate record " + seq + " in blocks " + earlier + " and " + position);
                    continue;
                }
            }
            boolean valid = seq == position && Arrays.equals(block, WorkloadRecord.encode(seq));
            if (valid && !runEnded && seq == last + 1) {
                last = seq;
                continue;
            }
            if (!runEnded && position == last + 1 && !tornTail) {
                // possibly the unacknowledged record being written when the guest stopped
                tornTail = true;
                runEnded = true;
                continue;
            }
            problems.add(describe(position, seq, last, valid));
        }
        if (tornTail && !problems.isEmpty()) {
            problems.add("block " + (last + 1) + " is not a valid record");
        }
        return new Result(last, tornTail, List.copyOf(problems));
    }

    private static String describe(long position, long seq, long last, boolean valid) {
        if (valid) {
            return "record " + seq + " found after a gap: the unbroken run ends at " + last;
        }
        if (seq > 0 && seq != position) {
            return "block " + position + " holds record " + seq;
        }
        return "block " + position + " holds neither a valid record nor zeros";
    }

    /** The sequence number in a block's header, or 0 if it has none. */
    private static long headerSequence(byte[] block) {
        String header = new String(block, 0, WorkloadRecord.MAGIC.length() + 10, StandardCharsets.US_ASCII);
        if (!header.startsWith(WorkloadRecord.MAGIC)) {
            return 0;
        }
        try {
            return Long.parseLong(header.substring(WorkloadRecord.MAGIC.length()));
        } catch (NumberFormatException notANumber) {
            return 0;
        }
    }

    private static boolean isZero(byte[] block) {
        for (byte b : block) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }
}
