package fivenines.block.aoe;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

import static fivenines.block.aoe.AoeFrame.*;
import static fivenines.block.aoe.AoeProtocol.*;

/**
 * An Ethernet segment in memory between an {@link AoeInitiator} and a real {@link AoeFrameHandler}
 * (the target's whole protocol, over a {@link MemoryExport}): what a packet socket would carry,
 * with what a network does to frames on demand — loss in either direction, delay, a target that
 * falls silent or comes back on another MAC address. Every frame the initiator sends is recorded
 * with the time it was sent.
 */
final class MemoryLink implements AoeInitiator.Link {
    static final MacAddress INITIATOR = MacAddress.parse("02:00:00:00:00:01");
    private final int mtu;
    private final int shelf;
    private final int slot;
    private final int bufferCount;
    final MemoryExport export;
    private final LinkedBlockingQueue<byte[]> toInitiator = new LinkedBlockingQueue<>();
    private final ScheduledExecutorService target = Executors.newScheduledThreadPool(4, r -> {
        Thread t = new Thread(r, "memory-target");
        t.setDaemon(true);
        return t;
    });
    private volatile AoeFrameHandler handler;
    private volatile boolean closed;
    /** Frames from the initiator that never reach the target. */
    volatile Predicate<byte[]> dropRequest = f -> false;
    /** Replies that never reach the initiator. */
    volatile Predicate<byte[]> dropReply = f -> false;
    /** A silent target answers nothing at all. */
    volatile boolean silent;
    volatile long delayMillis;
    /** Each reply is preceded by a copy for another slot of the same shelf, with other data, as a second target of one host would send. */
    volatile boolean neighbour;
    final List<Sent> sent = java.util.Collections.synchronizedList(new ArrayList<>());
    private final AtomicInteger outstanding = new AtomicInteger();
    final AtomicInteger maxOutstanding = new AtomicInteger();
    final ConcurrentHashMap<Long, Boolean> inFlightTags = new ConcurrentHashMap<>();
    final AtomicInteger tagClashes = new AtomicInteger();

    record Sent(long nanos, byte[] frame) {
        long tag() {
            return AoeFrame.tag(frame);
        }

        int command() {
            return AoeFrame.command(frame);
        }
    }

    MemoryLink(int mtu, int shelf, int slot, int bufferCount, int size) {
        this.mtu = mtu;
        this.shelf = shelf;
        this.slot = slot;
        this.bufferCount = bufferCount;
        this.export = new MemoryExport(size, false);
        moveTarget(MacAddress.parse("02:00:00:00:00:aa"));
    }

    /** The target now answers from {@code mac} (a restarted or replaced target). */
    void moveTarget(MacAddress mac) {
        handler = new AoeFrameHandler(mac, shelf, slot, AoeProtocol.sectorsPerFrame(mtu), bufferCount, () -> export);
    }

    @Override
    public String interfaceName() {
        return "mem0";
    }

    @Override
    public MacAddress mac() {
        return INITIATOR;
    }

    @Override
    public int mtu() {
        return mtu;
    }

    @Override
    public int receive(byte[] into) throws IOException {
        if (closed) {
            return -1;
        }
        byte[] frame;
        try {
            frame = toInitiator.poll(20, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
        if (frame == null) {
            return -1;
        }
        int n = Math.min(frame.length, into.length);
        System.arraycopy(frame, 0, into, 0, n);
        return n;
    }

    @Override
    public void send(byte[] frame, int length) throws IOException {
        if (closed) {
            throw new IOException("closed");
        }
        if (length > mtu + ETHERNET_HEADER) {
            throw new IOException("a frame of " + length + " bytes is beyond the MTU");
        }
        byte[] copy = Arrays.copyOf(frame, length);
        sent.add(new Sent(System.nanoTime(), copy));
        if (silent || dropRequest.test(copy)) {
            return;
        }
        boolean ata = command(copy) == CMD_ATA;
        if (ata) {
            if (inFlightTags.putIfAbsent(tag(copy), true) != null) {
                tagClashes.incrementAndGet(); // the same tag twice at once: a resending (or a bug)
            }
            maxOutstanding.accumulateAndGet(outstanding.incrementAndGet(), Math::max);
        }
        target.schedule(() -> {
            boolean done = false;
            try {
                var reply = handler.handle(copy, copy.length);
                if (reply != null && !silent) {
                    if (reply.durable()) {
                        reply.export().flush();
                    }
                    byte[] out = Arrays.copyOf(reply.frame(), reply.length());
                    // no longer in flight once its answer is on the wire, before the initiator can see it
                    if (ata) {
                        inFlightTags.remove(tag(copy));
                        outstanding.decrementAndGet();
                        done = true;
                    }
                    if (!dropReply.test(out)) {
                        if (neighbour && command(out) == CMD_ATA) {
                            byte[] other = out.clone();
                            other[18] = (byte) (slot + 1);
                            Arrays.fill(other, ATA_HEADER, other.length, (byte) 0xEE);
                            toInitiator.add(other);
                        }
                        toInitiator.add(out);
                    }
                }
            } catch (IOException e) {
                // a failed flush: no answer
            } finally {
                if (ata && !done) {
                    inFlightTags.remove(tag(copy));
                    outstanding.decrementAndGet();
                }
            }
        }, delayMillis, TimeUnit.MILLISECONDS);
    }

    /** The ATA frames the initiator sent, in order. */
    List<Sent> ataFrames() {
        synchronized (sent) {
            return sent.stream().filter(s -> s.command() == CMD_ATA).toList();
        }
    }

    @Override
    public void close() {
        closed = true;
        target.shutdownNow();
    }
}
