package fivenines.block.aoe;

import fivenines.block.export.BlockExport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * An AoE target: one shelf.slot served on one network interface from a {@link BlockExport}.
 *
 * <p>A reader thread takes frames from a {@link RawSocket} and runs {@link AoeFrameHandler} on
 * reads and queries itself while the export answers from memory ({@link BlockExport#servesFromMemory()}:
 * a file PV), as vblade does in its receive loop; writes, flushes and every frame for an export that
 * may wait on other nodes (a mirrored volume) go to workers, so that one slow frame does not hold up
 * the others. Durability: the Linux aoe driver never sends
 * FLUSH CACHE, so a write's reply waits until the write is on stable storage. Writes are done
 * without FUA and their replies go to a committer thread, which takes every reply waiting,
 * flushes each export they wrote once, and only then sends them; writes arriving during a
 * flush wait for the next one. So the cost of a flush is shared by all the frames in flight
 * (the initiator keeps up to the advertised buffer count outstanding), and a write whose flush
 * failed is answered with an ATA error instead. A write that arrives alone (nothing handed to a
 * worker is unanswered and no other frame waits in the socket) on a file export is written with
 * FUA and answered on the reader itself: one write at a time would otherwise pay two hand-offs
 * between threads, which cost more than the write, and a write-through is one system call where
 * a write and a flush are two.
 *
 * <p>The replies to the frames of one receive that the reader served go out together, in one
 * system call. While frames come close together and the machine has CPU to spare
 * ({@link PollGovernor}), the reader asks for the next frame without sleeping for up to
 * {@link Config#pollMicros()}: an initiator that waits for each reply (queue depth one) then gets
 * it without the target being put to sleep and woken between frames.
 *
 * <p>At start-up the target announces itself (a Query Config response to the broadcast
 * address), as AoE initiators expect from a target that appears.
 */
public final class AoeTarget implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(AoeTarget.class);
    public static final int DEFAULT_BUFFER_COUNT = 64;
    /** How long the reader asks for the next frame without sleeping, while frames come that close together. */
    public static final int DEFAULT_POLL_MICROS = 50;

    /**
     * @param flushBeforeReply false only to measure what durability costs: writes are then
     *                         acknowledged from the page cache, like vblade without {@code -s}
     * @param pollMicros       how long the reader polls for the next frame before it sleeps, while the
     *                         frames come at most that far apart (0: it always sleeps)
     */
    public record Config(String interfaceName, int shelf, int slot, int bufferCount, int workers, boolean flushBeforeReply,
                         int pollMicros) {
        public Config {
            if (pollMicros < 0 || pollMicros > 10_000) {
                throw new IllegalArgumentException("the AoE reader's polling time must be 0-10000 microseconds, not " + pollMicros);
            }
        }

        public Config(String interfaceName, int shelf, int slot) {
            this(interfaceName, shelf, slot, DEFAULT_BUFFER_COUNT, 4, true, DEFAULT_POLL_MICROS);
        }
    }

    private final Config config;
    private final RawSocket socket;
    private final AoeFrameHandler handler;
    private final Supplier<BlockExport> export;
    private final ExecutorService workers;
    private final LinkedBlockingQueue<AoeFrameHandler.Reply> committing = new LinkedBlockingQueue<>();
    private final Thread reader;
    private final Thread committer;
    private volatile boolean running = true;
    private volatile boolean committerRunning = true;
    private final AtomicLong framesIn = new AtomicLong();
    private final AtomicLong receives = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong replies = new AtomicLong();
    private final AtomicLong writes = new AtomicLong();
    private final AtomicLong flushes = new AtomicLong();
    private final AtomicLong failedFlushes = new AtomicLong();
    private final AtomicLong servedInline = new AtomicLong();
    private final AtomicLong writesInline = new AtomicLong();
    /** Frames handed to a worker and not yet answered (or dropped), including replies waiting for the committer. */
    private final AtomicInteger inFlight = new AtomicInteger();

    private AoeTarget(Config config, RawSocket socket, Supplier<BlockExport> export) {
        this.config = config;
        this.socket = socket;
        this.export = export;
        this.handler = new AoeFrameHandler(socket.mac(), config.shelf(), config.slot(),
            AoeProtocol.sectorsPerFrame(socket.mtu()), config.bufferCount(), export);
        // a read's reply is built in the socket's send buffer of the thread that serves it, and sent by it
        handler.directReplies(socket::frameBuffer);
        this.workers = new ThreadPoolExecutor(config.workers(), config.workers(), 1, TimeUnit.MINUTES, new LinkedBlockingQueue<>(),
            r -> {
                Thread t = new Thread(r, "aoe-e" + config.shelf() + "." + config.slot() + "-worker");
                t.setDaemon(true);
                return t;
            });
        this.reader = new Thread(this::readLoop, "aoe-e" + config.shelf() + "." + config.slot() + "-reader");
        this.committer = new Thread(this::commitLoop, "aoe-e" + config.shelf() + "." + config.slot() + "-committer");
        reader.setDaemon(true);
        committer.setDaemon(true);
    }

    /** Opens the interface, announces the target and starts serving; a clear IOException when it cannot. */
    public static AoeTarget start(Config config, Supplier<BlockExport> export) throws IOException {
        RawSocket socket = RawSocket.open(config.interfaceName(), AoeProtocol.ETHER_TYPE, 200, 8 << 20);
        AoeTarget target;
        try {
            target = new AoeTarget(config, socket, export);
        } catch (RuntimeException e) {
            socket.close();
            throw e;
        }
        target.reader.start();
        target.committer.start();
        target.announce();
        return target;
    }

    public Config config() {
        return config;
    }

    public AoeFrameHandler handler() {
        return handler;
    }

    public MacAddress mac() {
        return socket.mac();
    }

    public int mtu() {
        return socket.mtu();
    }

    /**
     * Counters since start: frames received and the receive calls that took them (frames per receive
     * shows how many come in one system call), dropped, replies sent, writes, flushes (writes per
     * flush shows the batching).
     */
    public record Stats(long framesIn, long receives, long dropped, long replies, long writes, long flushes, long failedFlushes,
                        long servedInline, long writesInline) {
    }

    public Stats stats() {
        return new Stats(framesIn.get(), receives.get(), dropped.get(), replies.get(), writes.get(), flushes.get(),
            failedFlushes.get(), servedInline.get(), writesInline.get());
    }

    /** Sends the start-up announcement again (a Query Config response to everyone). */
    public void announce() {
        send(handler.announcement());
    }

    private void readLoop() {
        // every frame already queued comes in one system call; a frame served on the reader is done with
        // when that returns, so its buffer takes a later frame; one handed to a worker is the worker's
        byte[][] frames = new byte[RawSocket.BATCH][];
        int[] lengths = new int[RawSocket.BATCH];
        long pollNanos = config.pollMicros() * 1000L;
        PollGovernor governor = pollNanos > 0 ? PollGovernor.shared() : null;
        boolean poll = false;
        while (running) {
            for (int i = 0; i < frames.length; i++) {
                if (frames[i] == null) {
                    frames[i] = new byte[socket.mtu() + AoeProtocol.ETHERNET_HEADER];
                }
            }
            int count;
            long asked = System.nanoTime();
            try {
                boolean polling = poll && governor.allowed();
                count = socket.receiveBatch(frames, lengths, polling ? pollNanos : 0);
                long waited = System.nanoTime() - asked;
                if (polling) {
                    governor.polled(Math.min(waited, pollNanos));
                }
                // poll for the next frame only while frames come about that close together (a target with
                // little to do sleeps between them; one serving an initiator that waits on each reply takes
                // the next frame without being woken for it), and only with CPU that would otherwise idle;
                // a wait that slept includes the wake-up, so a sleeper starts polling after one of up to
                // four polling times, and a poller stops after a poll that found nothing
                poll = governor != null && count > 0 && waited <= (polling ? pollNanos : 4 * pollNanos);
            } catch (IOException e) {
                if (running) {
                    LOG.warn("AoE e{}.{} on {}: {}", config.shelf(), config.slot(), config.interfaceName(), e.getMessage());
                    sleepQuietly();
                }
                continue;
            }
            if (count > 0) {
                receives.incrementAndGet();
            }
            for (int i = 0; i < count; i++) {
                byte[] frame = frames[i];
                int length = lengths[i];
                framesIn.incrementAndGet();
                boolean writing = writesOrFlushes(frame, length);
                if (!writing && servesFromMemory()) {
                    // a frame is at most a few KiB: a page-cache copy costs less than waking a worker for it,
                    // and vblade answers in its receive loop too
                    servedInline.incrementAndGet();
                    serveOnReader(frame, length, true);
                    continue;
                }
                if (writing && count == 1 && inFlight.get() == 0 && servesFromMemory() && !socket.framesWaiting()) {
                    // alone: no other frame is being served or waits, so no flush is under way that the write
                    // could wait for, and no frame waits behind this one; two hand-offs cost more than the write
                    writesInline.incrementAndGet();
                    serveOnReader(frame, length, false);
                    continue;
                }
                frames[i] = null; // the worker owns it now
                inFlight.incrementAndGet();
                try {
                    workers.execute(() -> serve(frame, length));
                } catch (RuntimeException e) {
                    inFlight.decrementAndGet();
                    dropped.incrementAndGet(); // closing
                }
            }
            // the replies to the frames served here go out together, in one system call
            sendQueued();
        }
    }

    /**
     * Whether a frame is an ATA write or cache flush. Those go to a worker even for a file: a write
     * into pages that the committer's flush is writing back may wait for it, and the reader thread
     * must not (every read behind it would wait too).
     */
    static boolean writesOrFlushes(byte[] frame, int length) {
        if (length < AoeProtocol.HEADER + 4 || AoeFrame.command(frame) != AoeProtocol.CMD_ATA) {
            return false;
        }
        int ata = AoeFrame.ataCommand(frame);
        return ata == AoeProtocol.ATA_WRITE_SECTORS || ata == AoeProtocol.ATA_WRITE_SECTORS_EXT
            || ata == AoeProtocol.ATA_FLUSH_CACHE || ata == AoeProtocol.ATA_FLUSH_CACHE_EXT;
    }

    /** Whether the export now answers from memory (a file PV), so that a frame is served on the reader thread. */
    private boolean servesFromMemory() {
        try {
            BlockExport current = export.get();
            return current != null && current.servesFromMemory();
        } catch (RuntimeException e) {
            return false; // the worker's handler says what is wrong with it
        }
    }

    /** On a worker: answers the frame, or hands a write's reply to the committer. */
    private void serve(byte[] frame, int length) {
        AoeFrameHandler.Reply reply = handle(frame, length, false);
        if (reply == null) {
            inFlight.decrementAndGet();
            return;
        }
        if (reply.durable()) {
            writes.incrementAndGet();
            if (config.flushBeforeReply()) {
                committing.add(reply); // the committer counts it answered
                return;
            }
        }
        send(reply);
        inFlight.decrementAndGet();
    }

    /**
     * On the reader (a read, or a write with nothing else in flight): answers the frame. A write is
     * done with FUA (through an O_DSYNC descriptor on a file: one system call, where a write and a
     * flush are two), or written and flushed when the export cannot write through. The reply is
     * queued when {@code queue} (sent with the batch's other replies), else sent.
     */
    private void serveOnReader(byte[] frame, int length, boolean queue) {
        AoeFrameHandler.Reply reply = handle(frame, length, config.flushBeforeReply());
        if (reply == null) {
            return;
        }
        if (reply.wrote()) {
            writes.incrementAndGet();
        }
        if (reply.durable() && config.flushBeforeReply() && !flush(reply.export(), 1)) {
            AoeFrame.failAta(reply.frame(), AoeFrame.ataSectorCount(reply.frame()));
        }
        send(reply, queue);
    }

    private AoeFrameHandler.Reply handle(byte[] frame, int length, boolean writeThrough) {
        AoeFrameHandler.Reply reply;
        try {
            reply = handler.handle(frame, length, writeThrough);
        } catch (RuntimeException e) {
            LOG.warn("AoE e{}.{}: frame of {} bytes dropped: {}", config.shelf(), config.slot(), length, e.toString());
            reply = null;
        }
        if (reply == null) {
            dropped.incrementAndGet();
        }
        return reply;
    }

    /** Flushes one export; false (logged) when it failed, so that the writes it covers are answered with an error. */
    private boolean flush(BlockExport export, int writesCovered) {
        try {
            flushes.incrementAndGet();
            export.flush();
            return true;
        } catch (IOException | RuntimeException e) {
            failedFlushes.incrementAndGet();
            LOG.warn("AoE e{}.{}: flush failed, {} writes answered with an error: {}", config.shelf(), config.slot(),
                writesCovered, e.getMessage());
            return false;
        }
    }

    private void commitLoop() {
        List<AoeFrameHandler.Reply> batch = new ArrayList<>();
        while (committerRunning || !committing.isEmpty()) {
            AoeFrameHandler.Reply first;
            try {
                first = committing.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                continue;
            }
            if (first == null) {
                continue;
            }
            batch.clear();
            batch.add(first);
            committing.drainTo(batch);
            var byExport = new IdentityHashMap<BlockExport, Boolean>();
            for (var reply : batch) {
                byExport.putIfAbsent(reply.export(), Boolean.TRUE);
            }
            for (var entry : byExport.entrySet()) {
                entry.setValue(flush(entry.getKey(), batch.size()));
            }
            for (var reply : batch) {
                if (!byExport.get(reply.export())) {
                    AoeFrame.failAta(reply.frame(), AoeFrame.ataSectorCount(reply.frame()));
                }
                send(reply);
                inFlight.decrementAndGet();
            }
        }
    }

    private void send(AoeFrameHandler.Reply reply) {
        send(reply, false);
    }

    /**
     * Sends a reply, after the replies this thread queued; with {@code queue}, queues it to go with
     * this thread's next {@link #sendQueued} instead.
     */
    private void send(AoeFrameHandler.Reply reply, boolean queue) {
        try {
            if (reply.prepared() != null) {
                socket.queuePrepared(reply.length());
            } else {
                socket.queue(reply.frame(), reply.length());
            }
            replies.incrementAndGet();
            if (!queue) {
                socket.sendQueued();
            }
        } catch (IOException e) {
            if (running) {
                LOG.warn("AoE e{}.{}: reply not sent: {}", config.shelf(), config.slot(), e.getMessage());
            }
        }
    }

    private void sendQueued() {
        try {
            socket.sendQueued();
        } catch (IOException e) {
            if (running) {
                LOG.warn("AoE e{}.{}: replies not sent: {}", config.shelf(), config.slot(), e.getMessage());
            }
        }
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops serving: frames in flight are answered (writes flushed first), then the socket closes. */
    @Override
    public void close() {
        if (!running) {
            return;
        }
        running = false;
        try {
            reader.join(2000);
            workers.shutdown();
            workers.awaitTermination(5, TimeUnit.SECONDS);
            committerRunning = false;
            committer.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        socket.close();
    }
}
