package fivenines.block.aoe;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Whether AoE readers may poll for their next frame instead of sleeping: only with CPU the machine
 * would otherwise leave idle. Polling takes a frame that arrives within microseconds without the
 * reader being put to sleep and woken (on an idle core the wake-up costs more than the frame), but
 * on a machine whose cores are all taken it takes a core from work that has some to do (a guest, or
 * on a shared test machine the initiator itself), and then it is slower.
 *
 * <p>The decision is pure ({@link #decide}): it is fed the machine's CPU counters (from
 * {@code /proc/stat}) and the time the readers spent polling, and allows polling while, counting
 * that polling as idle, at least {@link #SPARE} of the machine's CPU time was idle over the last
 * interval. The sampler ({@link #shared()}) is one daemon thread per JVM, every
 * {@link #INTERVAL_MILLIS} ms, started by the first target that polls.
 */
public final class PollGovernor {
    /** The share of the machine's CPU time that must be spare (idle, or our own polling) for polling to go on. */
    static final double SPARE = 0.25;
    static final long INTERVAL_MILLIS = 100;
    /** Fewer ticks than this in an interval (a tick is 10 ms of one CPU) decide nothing. */
    static final long MIN_TICKS = 10;

    private long lastIdle = -1;
    private long lastTotal;
    private long lastPolled;
    private volatile boolean allowed;
    private final AtomicLong polledNanos = new AtomicLong();

    private static volatile PollGovernor shared;

    /** The JVM's governor, sampling /proc/stat; on a system without it, polling is never allowed. */
    public static PollGovernor shared() {
        PollGovernor g = shared;
        if (g == null) {
            synchronized (PollGovernor.class) {
                g = shared;
                if (g == null) {
                    g = new PollGovernor();
                    Thread sampler = new Thread(g::sampleLoop, "aoe-poll-governor");
                    sampler.setDaemon(true);
                    sampler.start();
                    shared = g;
                }
            }
        }
        return g;
    }

    /** Whether a reader may poll now. */
    public boolean allowed() {
        return allowed;
    }

    /** A reader spent this long polling (it counts as idle: it gives way whenever polling stops). */
    public void polled(long nanos) {
        polledNanos.addAndGet(nanos);
    }

    /**
     * Takes one sample: the machine's idle ticks (idle and iowait) and all its ticks so far, the
     * readers' polling so far, and the length of a tick; returns whether polling is allowed until the
     * next one. The first sample and an interval of fewer than {@link #MIN_TICKS} keep the decision.
     */
    public boolean decide(long idleTicks, long totalTicks, long polledSoFar, long nanosPerTick) {
        if (lastIdle >= 0 && totalTicks - lastTotal >= MIN_TICKS) {
            double total = totalTicks - lastTotal;
            double spare = (idleTicks - lastIdle) + (double) (polledSoFar - lastPolled) / nanosPerTick;
            allowed = spare / total >= SPARE;
        } else if (lastIdle >= 0) {
            return allowed; // too short to tell: measured again over a longer interval
        }
        lastIdle = idleTicks;
        lastTotal = totalTicks;
        lastPolled = polledSoFar;
        return allowed;
    }

    /** The idle (idle + iowait) and total ticks of the first line of /proc/stat's text. */
    static long[] parseCpuLine(String stat) {
        int end = stat.indexOf('\n');
        String[] fields = (end < 0 ? stat : stat.substring(0, end)).trim().split("\\s+");
        if (fields.length < 6 || !fields[0].equals("cpu")) {
            throw new IllegalArgumentException("not /proc/stat's cpu line: " + (end < 0 ? stat : stat.substring(0, end)));
        }
        long total = 0;
        // user nice system idle iowait irq softirq steal (guest and guest_nice are inside user and nice)
        for (int i = 1; i < Math.min(fields.length, 9); i++) {
            total += Long.parseLong(fields[i]);
        }
        return new long[] {Long.parseLong(fields[4]) + Long.parseLong(fields[5]), total};
    }

    private void sampleLoop() {
        Path stat = Path.of("/proc/stat");
        long nanosPerTick = 10_000_000L; // USER_HZ is 100 on Linux
        while (true) {
            try {
                long[] cpu = parseCpuLine(new String(Files.readAllBytes(stat), StandardCharsets.US_ASCII));
                decide(cpu[0], cpu[1], polledNanos.get(), nanosPerTick);
                Thread.sleep(INTERVAL_MILLIS);
            } catch (IOException | RuntimeException e) {
                allowed = false;
                return; // no /proc/stat: readers sleep between frames, as without polling
            } catch (InterruptedException e) {
                return;
            }
        }
    }
}
