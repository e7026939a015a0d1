package fivenines.block.aoe;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static fivenines.block.aoe.AoeFrame.*;
import static fivenines.block.aoe.AoeProtocol.*;

/**
 * An AoE initiator for one target eSHELF.SLOT on one interface: discovery by a Query Config
 * broadcast, IDENTIFY for the capacity, READ/WRITE SECTORS EXT split into frames of the sector
 * count both sides take, FLUSH CACHE EXT, and up to the target's buffer count of frames in flight
 * (from any number of threads), each under its own tag.
 *
 * <p>Loss: a frame not answered within its time-out is sent again, with the time-out doubled
 * each time (up to {@link Settings#maxTimeout}); the first time-out follows the round trips
 * measured on frames answered at their first sending (Jacobson's estimator, Karn's rule), never
 * below {@link Settings#minTimeout}. A frame unanswered after its second resending also sends a
 * Query Config broadcast (at most one a second), so a target that came back on another MAC
 * address is found again.
 *
 * <p>A target that vanishes: when the oldest frame waiting has heard nothing from the target
 * for {@link Settings#deadline} (counted from its own sending or the target's last answer,
 * whichever is later, so a target busy answering others is not gone), the target is declared
 * gone: every frame waiting fails with "AoE target eS.L on IF did not answer for N s", and so
 * does every new request at once, until the target answers a Query Config again. A frame the
 * target keeps leaving unanswered while it answers others fails alone after four deadlines.
 * Every error is an IOException naming the target.
 */
public final class AoeInitiator implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(AoeInitiator.class);
    /** Tags of every initiator in this process: two initiators on one interface never share one. */
    private static final AtomicInteger TAGS = new AtomicInteger(new SecureRandom().nextInt());
    private static final long QUERY_INTERVAL = TimeUnit.SECONDS.toNanos(1);

    /** Where frames go and come from: a packet socket ({@link RawSocket}), or in tests a link in memory. */
    public interface Link extends AutoCloseable {
        String interfaceName();

        MacAddress mac();

        int mtu();

        /** Copies the next frame into {@code into} and returns its length; -1 after a short wait without one, or once closed. */
        int receive(byte[] into) throws IOException;

        void send(byte[] frame, int length) throws IOException;

        @Override
        void close();
    }

    /**
     * @param firstTimeout a frame's time-out before any round trip was measured
     * @param minTimeout   the least time-out, whatever the round trips measured
     * @param maxTimeout   the most a frame's time-out grows to by doubling
     * @param deadline     how long the target may stay silent before it is declared gone
     */
    public record Settings(Duration firstTimeout, Duration minTimeout, Duration maxTimeout, Duration deadline) {
        public Settings {
            if (minTimeout.isNegative() || minTimeout.isZero() || firstTimeout.compareTo(minTimeout) < 0
                || maxTimeout.compareTo(firstTimeout) < 0 || deadline.compareTo(maxTimeout) < 0) {
                throw new IllegalArgumentException("AoE time-outs must grow: 0 < min " + minTimeout + " <= first " + firstTimeout
                    + " <= max " + maxTimeout + " <= deadline " + deadline);
            }
        }

        public static Settings defaults() {
            return new Settings(Duration.ofMillis(250), Duration.ofMillis(100), Duration.ofSeconds(2), Duration.ofSeconds(20));
        }

        /** These settings with another deadline (the time-outs capped by it). */
        public Settings withDeadline(Duration deadline) {
            Duration max = maxTimeout.compareTo(deadline) > 0 ? deadline : maxTimeout;
            Duration first = firstTimeout.compareTo(max) > 0 ? max : firstTimeout;
            Duration min = minTimeout.compareTo(first) > 0 ? first : minTimeout;
            return new Settings(first, min, max, deadline);
        }
    }

    /** Counts since the start: frames sent (first sendings), sent again, answered, and frames failed for silence. */
    public record Stats(long sent, long resent, long answered, long timedOut) {
    }

    private final Link link;
    private final int shelf;
    private final int slot;
    private final String name;
    private volatile MacAddress target;
    private final int sectorsPerFrame;
    private final int bufferCount;
    private final long sectors;
    private final Settings settings;
    private final Semaphore window;
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final Thread reader;
    private final Thread retransmitter;
    private volatile boolean running = true;
    /** Why the target is taken for gone, or null while it answers. */
    private volatile String gone;
    private volatile long lastHeardNanos;
    private long lastQueryNanos;
    private volatile boolean flushExtRefused;
    private final RoundTrips roundTrips;
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong resent = new AtomicLong();
    private final AtomicLong answered = new AtomicLong();
    private final AtomicLong timedOut = new AtomicLong();

    private static final class Pending {
        final byte[] frame;
        final int length;
        final CompletableFuture<byte[]> reply = new CompletableFuture<>();
        final long firstSentNanos;
        volatile long tag;
        volatile long sentNanos;
        volatile long timeoutNanos;
        volatile int sendings;

        Pending(byte[] frame, int length, long now, long timeoutNanos) {
            this.frame = frame;
            this.length = length;
            this.firstSentNanos = now;
            this.sentNanos = now;
            this.timeoutNanos = timeoutNanos;
        }
    }

    /** Smoothed round trip and its variation (RFC 6298), in nanoseconds. */
    private static final class RoundTrips {
        private final long min;
        private final long max;
        private long smoothed;
        private long variation;
        private long timeout;

        RoundTrips(Settings settings) {
            this.min = settings.minTimeout().toNanos();
            this.max = settings.maxTimeout().toNanos();
            this.timeout = settings.firstTimeout().toNanos();
        }

        synchronized void sample(long rtt) {
            if (smoothed == 0) {
                smoothed = rtt;
                variation = rtt / 2;
            } else {
                variation = (3 * variation + Math.abs(smoothed - rtt)) / 4;
                smoothed = (7 * smoothed + rtt) / 8;
            }
            timeout = Math.clamp(smoothed + 4 * variation, min, max);
        }

        synchronized long timeout() {
            return timeout;
        }
    }

    private AoeInitiator(Link link, int shelf, int slot, MacAddress target, int sectorsPerFrame, int bufferCount,
                         Settings settings) throws IOException {
        this.link = link;
        this.shelf = shelf;
        this.slot = slot;
        this.name = "AoE target e" + shelf + "." + slot + " on " + link.interfaceName();
        this.target = target;
        this.sectorsPerFrame = sectorsPerFrame;
        this.bufferCount = bufferCount;
        this.settings = settings;
        this.roundTrips = new RoundTrips(settings);
        this.window = new Semaphore(bufferCount);
        this.lastHeardNanos = System.nanoTime();
        this.reader = new Thread(this::readLoop, "aoe-initiator-e" + shelf + "." + slot + "-reader");
        this.retransmitter = new Thread(this::retransmitLoop, "aoe-initiator-e" + shelf + "." + slot + "-retransmit");
        reader.setDaemon(true);
        retransmitter.setDaemon(true);
        reader.start();
        retransmitter.start();
        byte[] id;
        try {
            id = await(submit(ATA_IDENTIFY_DEVICE, 0, 1, null, 0));
        } catch (IOException e) {
            close();
            throw e;
        }
        this.sectors = IdentifyDevice.sectors(Arrays.copyOfRange(id, ATA_HEADER, ATA_HEADER + SECTOR));
    }

    /**
     * Finds shelf.slot on the interface by a Query Config broadcast and asks its capacity.
     *
     * @throws IOException when no target answers within {@code discovery}
     */
    public static AoeInitiator connect(String interfaceName, int shelf, int slot, Duration discovery) throws IOException {
        return connect(interfaceName, shelf, slot, discovery, Settings.defaults());
    }

    public static AoeInitiator connect(String interfaceName, int shelf, int slot, Duration discovery, Settings settings)
        throws IOException {
        return connect(RawSocket.open(interfaceName, ETHER_TYPE, 50, 8 << 20), shelf, slot, discovery, settings);
    }

    /** As {@link #connect(String, int, int, Duration, Settings)} over a link, which the initiator owns (closed with it, or on failure). */
    public static AoeInitiator connect(Link link, int shelf, int slot, Duration discovery, Settings settings) throws IOException {
        try {
            if (shelf < 0 || shelf >= BROADCAST_SHELF || slot < 0 || slot >= BROADCAST_SLOT) {
                throw new IllegalArgumentException("e" + shelf + "." + slot + " is not an AoE target address (shelf 0..65534, slot 0..254)");
            }
            byte[] query = query(link.mac(), shelf, slot);
            long deadline = System.nanoTime() + discovery.toNanos();
            byte[] in = new byte[link.mtu() + ETHERNET_HEADER];
            long nextQuery = 0;
            while (System.nanoTime() < deadline) {
                if (System.nanoTime() >= nextQuery) {
                    link.send(query, query.length);
                    nextQuery = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(250);
                }
                int n = link.receive(in);
                if (n >= CONFIG_HEADER && etherType(in) == ETHER_TYPE && isResponse(in) && !isError(in)
                    && command(in) == CMD_QUERY_CONFIG && AoeFrame.shelf(in) == shelf && AoeFrame.slot(in) == slot) {
                    int scnt = Math.min(Math.max(1, configSectorCount(in)), AoeProtocol.sectorsPerFrame(link.mtu()));
                    int buffers = Math.max(1, Math.min(configBufferCount(in), 256));
                    return new AoeInitiator(link, shelf, slot, source(in), scnt, buffers, settings);
                }
            }
            throw new IOException("no AoE target e" + shelf + "." + slot + " answered on " + link.interfaceName() + " within "
                + describe(discovery));
        } catch (IOException | RuntimeException e) {
            link.close();
            throw e;
        }
    }

    private static byte[] query(MacAddress from, int shelf, int slot) {
        byte[] query = new byte[MIN_FRAME];
        putHeader(query, MacAddress.BROADCAST, from, 0, 0, shelf, slot, CMD_QUERY_CONFIG, 0x7FFF_0000L);
        putConfig(query, 0, 0, 0, CCMD_READ, new byte[0]);
        return query;
    }

    /** "20 s", or "500 ms" below a second. */
    static String describe(Duration d) {
        return d.toMillis() % 1000 == 0 || d.toMillis() >= 10_000 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    /** The target's MAC address (it changes when the target answers a later Query Config from another). */
    public MacAddress target() {
        return target;
    }

    public String interfaceName() {
        return link.interfaceName();
    }

    public int shelf() {
        return shelf;
    }

    public int slot() {
        return slot;
    }

    public long sectors() {
        return sectors;
    }

    public int sectorsPerFrame() {
        return sectorsPerFrame;
    }

    public int bufferCount() {
        return bufferCount;
    }

    public Settings settings() {
        return settings;
    }

    public Stats stats() {
        return new Stats(sent.get(), resent.get(), answered.get(), timedOut.get());
    }

    /** Why the target is taken for gone, or empty while it answers. */
    public java.util.Optional<String> gone() {
        return java.util.Optional.ofNullable(gone);
    }

    /** Reads {@code count} sectors from {@code lba} into {@code into} at {@code offset}. */
    public void read(long lba, int count, byte[] into, int offset) throws IOException {
        transfer(lba, count, into, offset, false);
    }

    /** Writes {@code count} sectors to {@code lba} from {@code from} at {@code offset}; done when every frame is acknowledged. */
    public void write(long lba, int count, byte[] from, int offset) throws IOException {
        transfer(lba, count, from, offset, true);
    }

    /**
     * Asks the target to put every acknowledged write on stable storage: FLUSH CACHE EXT, or
     * FLUSH CACHE once a target refused the EXT form.
     */
    public void flush() throws IOException {
        if (!flushExtRefused) {
            try {
                await(submit(ATA_FLUSH_CACHE_EXT, 0, 0, null, 0));
                return;
            } catch (AtaError e) {
                if ((e.error & ERROR_ABRT) == 0) {
                    throw e;
                }
                // aborted: a target without the EXT form, or a flush that failed; the plain form tells which
                try {
                    await(submit(ATA_FLUSH_CACHE, 0, 0, null, 0));
                } catch (AtaError second) {
                    throw e;
                }
                flushExtRefused = true;
                return;
            }
        }
        await(submit(ATA_FLUSH_CACHE, 0, 0, null, 0));
    }

    private void transfer(long lba, int count, byte[] data, int offset, boolean write) throws IOException {
        if (count < 0 || lba < 0 || offset < 0 || offset + (long) count * SECTOR > data.length) {
            throw new IllegalArgumentException("sectors " + lba + "+" + count + " do not fit the buffer given");
        }
        int frames = (count + sectorsPerFrame - 1) / sectorsPerFrame;
        List<CompletableFuture<byte[]>> replies = new ArrayList<>(frames);
        var failed = new java.util.concurrent.atomic.AtomicReference<Throwable>();
        IOException failure = null;
        // once a frame failed, the rest of the request is not sent
        for (int i = 0; i < frames && failure == null && failed.get() == null; i++) {
            int n = Math.min(sectorsPerFrame, count - i * sectorsPerFrame);
            try {
                var reply = submit(write ? ATA_WRITE_SECTORS_EXT : ATA_READ_SECTORS_EXT, lba + (long) i * sectorsPerFrame, n,
                    write ? data : null, offset + i * sectorsPerFrame * SECTOR);
                reply.whenComplete((r, e) -> {
                    if (e != null) {
                        failed.compareAndSet(null, e);
                    }
                });
                replies.add(reply);
            } catch (IOException e) {
                failure = e;
            }
        }
        for (int i = 0; i < replies.size(); i++) {
            byte[] reply;
            try {
                reply = await(replies.get(i));
            } catch (IOException e) {
                failure = failure == null ? e : failure;
                continue;
            }
            if (!write) {
                int n = Math.min(sectorsPerFrame, count - i * sectorsPerFrame);
                System.arraycopy(reply, ATA_HEADER, data, offset + i * sectorsPerFrame * SECTOR, n * SECTOR);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private CompletableFuture<byte[]> submit(int command, long lba, int count, byte[] data, int offset) throws IOException {
        if (!running) {
            throw new IOException("the initiator for " + name + " is closed");
        }
        String why = gone;
        if (why != null) {
            throw new IOException(why);
        }
        try {
            window.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        why = gone;
        if (why != null || !running) {
            window.release();
            throw new IOException(why != null ? why : "the initiator for " + name + " is closed");
        }
        int payload = data == null ? 0 : count * SECTOR;
        int length = Math.max(MIN_FRAME, ATA_HEADER + payload);
        byte[] frame = new byte[length];
        int aflags = AFLAG_EXTENDED | (data != null ? AFLAG_WRITE : 0);
        putAta(frame, aflags, 0, count, command, lba);
        if (data != null) {
            System.arraycopy(data, offset, frame, ATA_HEADER, payload);
        }
        long now = System.nanoTime();
        Pending p = new Pending(frame, length, now, roundTrips.timeout());
        long tag;
        do {
            tag = TAGS.getAndIncrement() & 0x7FFF_FFFFL;
            p.tag = tag;
            putHeader(frame, target, link.mac(), 0, 0, shelf, slot, CMD_ATA, tag);
        } while (tag == 0 || pending.putIfAbsent(tag, p) != null);
        p.reply.whenComplete((r, e) -> window.release());
        sent.incrementAndGet();
        send(p, now);
        return p.reply;
    }

    private void send(Pending p, long now) {
        p.sentNanos = now;
        p.sendings++;
        target.write(p.frame, 0); // the target may have been found again on another address
        try {
            link.send(p.frame, p.length);
        } catch (IOException e) {
            // lost like a dropped frame: sent again at its time-out
        }
    }

    private byte[] await(CompletableFuture<byte[]> reply) throws IOException {
        try {
            return reply.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
    }

    /** An ATA error the target answered, with its status and error registers. */
    public static final class AtaError extends IOException {
        public final int status;
        public final int error;

        AtaError(String message, int status, int error) {
            super(message);
            this.status = status;
            this.error = error;
        }
    }

    private void readLoop() {
        byte[] in = new byte[link.mtu() + ETHERNET_HEADER];
        while (running) {
            int n;
            try {
                n = link.receive(in);
            } catch (IOException e) {
                continue;
            }
            if (n < HEADER || etherType(in) != ETHER_TYPE || !isResponse(in) || AoeFrame.shelf(in) != shelf
                || AoeFrame.slot(in) != slot) {
                continue;
            }
            long now = System.nanoTime();
            if (command(in) == CMD_QUERY_CONFIG) {
                if (n >= CONFIG_HEADER && !isError(in)) {
                    MacAddress from = source(in);
                    if (gone != null || !from.equals(target)) {
                        LOG.info("{} answers again, from {}", name, from);
                    }
                    target = from;
                    lastHeardNanos = now;
                    gone = null;
                }
                continue;
            }
            if (command(in) != CMD_ATA || !source(in).equals(target)) {
                continue;
            }
            Pending p = pending.remove(tag(in));
            if (p == null) {
                continue; // a late answer to a frame sent again, or one that failed
            }
            lastHeardNanos = now;
            answered.incrementAndGet();
            if (p.sendings == 1) {
                roundTrips.sample(now - p.sentNanos);
            }
            if (isError(in)) {
                p.reply.completeExceptionally(new IOException(name + " answered error " + error(in)));
            } else if (n < ATA_HEADER) {
                p.reply.completeExceptionally(new IOException(name + " sent a short reply"));
            } else if ((ataCommand(in) & STATUS_ERR) != 0) {
                p.reply.completeExceptionally(new AtaError(String.format("%s: ATA status %02x error %02x", name,
                    ataCommand(in), ataError(in)), ataCommand(in), ataError(in)));
            } else {
                int want = ATA_HEADER + ((ataFlags(p.frame) & AFLAG_WRITE) != 0 ? 0 : ataSectorCount(p.frame) * SECTOR);
                if (n < want) {
                    p.reply.completeExceptionally(new IOException(name + " sent " + n + " bytes where " + want + " were due"));
                } else {
                    p.reply.complete(Arrays.copyOf(in, n));
                }
            }
        }
    }

    private void retransmitLoop() {
        long deadline = settings.deadline().toNanos();
        long max = settings.maxTimeout().toNanos();
        while (running) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                continue;
            }
            long now = System.nanoTime();
            boolean lookAgain = gone != null;
            long heard = lastHeardNanos;
            for (Pending p : pending.values()) {
                if (now - p.sentNanos < p.timeoutNanos) {
                    continue;
                }
                long silentSince = Math.max(p.firstSentNanos, heard);
                if (now - silentSince >= deadline) {
                    declareGone(name + " did not answer for " + describe(settings.deadline()));
                    lookAgain = true;
                    break;
                }
                if (now - p.firstSentNanos >= 4 * deadline) {
                    fail(p, new IOException(name + " answered other requests but not this one for "
                        + describe(settings.deadline().multipliedBy(4))));
                    continue;
                }
                p.timeoutNanos = Math.min(2 * p.timeoutNanos, max);
                resent.incrementAndGet();
                send(p, now);
                lookAgain |= p.sendings >= 3;
            }
            if (lookAgain && now - lastQueryNanos >= QUERY_INTERVAL) {
                lastQueryNanos = now;
                byte[] q = query(link.mac(), shelf, slot);
                try {
                    link.send(q, q.length);
                } catch (IOException e) {
                    // tried again in a second
                }
            }
        }
    }

    private void declareGone(String why) {
        if (gone == null) {
            LOG.warn("{}: its requests fail until it answers a Query Config again", why);
        }
        gone = why;
        for (Pending p : List.copyOf(pending.values())) {
            fail(p, new IOException(why));
        }
    }

    private void fail(Pending p, IOException e) {
        if (pending.remove(p.tag, p)) {
            timedOut.incrementAndGet();
            p.reply.completeExceptionally(e);
        }
    }

    @Override
    public void close() {
        running = false;
        try {
            reader.join(1000);
            retransmitter.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        link.close();
        for (Pending p : List.copyOf(pending.values())) {
            if (pending.remove(p.tag, p)) {
                p.reply.completeExceptionally(new IOException("the initiator for " + name + " is closed"));
            }
        }
    }
}
