package fivenines.testsupport.guest;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Follows a guest's serial console log (QEMU's {@code -serial file:}). Only complete lines
 * count: a half-written {@code seq=12} might yet become {@code seq=123}.
 */
public final class GuestConsole {
    private static final Pattern ACKNOWLEDGED = Pattern.compile("^NINES-WORKLOAD seq=(\\d+)$");
    private static final Duration POLL = Duration.ofMillis(50);

    private final Path log;
    private final List<String> lines = new ArrayList<>();
    private final StringBuilder partial = new StringBuilder();
    private long offset;

    public GuestConsole(Path log) {
        this.log = log;
    }

    public Path log() {
        return log;
    }

    /** The complete lines so far, without carriage returns. */
    public synchronized List<String> lines() throws IOException {
        readNew();
        return List.copyOf(lines);
    }

    /** Waits for any line (from the start of the log) matching the pattern. */
    public Matcher awaitLine(Pattern pattern, Duration timeout) throws IOException, InterruptedException, TimeoutException {
        return awaitLine(pattern, 0, timeout);
    }

    /** Waits for a line matching the pattern at or after line {@code fromLine}, e.g. {@code lines().size()}. */
    public Matcher awaitLine(Pattern pattern, int fromLine, Duration timeout)
            throws IOException, InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int searched = fromLine;
        while (true) {
            List<String> now = lines();
            for (int i = searched; i < now.size(); i++) {
                Matcher matcher = pattern.matcher(now.get(i));
                if (matcher.find()) {
                    return matcher;
                }
            }
            searched = Math.max(searched, now.size());
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("no console line matching /" + pattern + "/ within " + timeout
                        + " in " + log + "; last lines: " + tail(now, 8));
            }
            Thread.sleep(POLL);
        }
    }

    /** The highest sequence number the write workload has acknowledged, 0 if none. */
    public long acknowledgedSequence() throws IOException {
        long highest = 0;
        for (String line : lines()) {
            Matcher matcher = ACKNOWLEDGED.matcher(line);
            if (matcher.matches()) {
                highest = Math.max(highest, Long.parseLong(matcher.group(1)));
            }
        }
        return highest;
    }

    /** Waits until the workload has acknowledged at least {@code seq}; returns the sequence reached. */
    public long awaitAcknowledged(long seq, Duration timeout) throws IOException, InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long reached = acknowledgedSequence();
            if (reached >= seq) {
                return reached;
            }
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("workload reached seq " + reached + ", not " + seq + ", within " + timeout
                        + "; last lines: " + tail(lines(), 8));
            }
            Thread.sleep(POLL);
        }
    }

    public Optional<String> lastLineMatching(Pattern pattern) throws IOException {
        List<String> now = lines();
        for (int i = now.size() - 1; i >= 0; i--) {
            if (pattern.matcher(now.get(i)).find()) {
                return Optional.of(now.get(i));
            }
        }
        return Optional.empty();
    }

    private void readNew() throws IOException {
        if (!Files.exists(log)) {
            return;
        }
        try (var file = new RandomAccessFile(log.toFile(), "r")) {
            long length = file.length();
            if (length < offset) {
                // the log was truncated (QEMU reopened it): start over
                offset = 0;
                lines.clear();
                partial.setLength(0);
            }
            if (length == offset) {
                return;
            }
            byte[] bytes = new byte[(int) Math.min(length - offset, 16 << 20)];
            file.seek(offset);
            file.readFully(bytes);
            offset += bytes.length;
            partial.append(new String(bytes, StandardCharsets.ISO_8859_1));
        }
        int newline;
        while ((newline = partial.indexOf("\n")) >= 0) {
            lines.add(partial.substring(0, newline).replace("\r", ""));
            partial.delete(0, newline + 1);
        }
    }

    private static String tail(List<String> lines, int count) {
        return String.join(" | ", lines.subList(Math.max(0, lines.size() - count), lines.size()));
    }
}
