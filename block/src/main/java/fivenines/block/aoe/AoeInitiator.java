package fivenines.block.aoe;

import java.io.IOException;
import java.time.Duration;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static fivenines.block.aoe.AoeFrame.*;
import static fivenines.block.aoe.AoeProtocol.*;

/**
 * A small AoE initiator for one target: discovery by a Query Config broadcast, IDENTIFY for
 * the capacity, READ/WRITE SECTORS EXT split into frames of the sector count both sides take,
 * up to the target's buffer count of requests in flight (from any number of threads), and
 * retransmission of a request not answered in time. An ATA or AoE error, or a target silent
 * through every retransmission, is an IOException naming the target.
 */
public final class AoeInitiator implements AutoCloseable {
    private final RawSocket socket;
    private final int shelf;
    private final int slot;
    private final MacAddress target;
    private final int sectorsPerFrame;
    private final int bufferCount;
    private final long sectors;
    private final Duration retransmitAfter;
    private final int tries;
    private final Semaphore window;
    private final AtomicInteger tags = new AtomicInteger(1);
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final Thread reader;
    private final Thread retransmitter;
    private volatile boolean running = true;

    private static final class Pending {
        final byte[] frame;
        final int length;
        final CompletableFuture<byte[]> reply = new CompletableFuture<>();
        volatile long sentNanos;
        volatile int sent;

        Pending(byte[] frame, int length) {
            this.frame = frame;
            this.length = length;
        }
    }

    private AoeInitiator(RawSocket socket, int shelf, int slot, MacAddress target, int sectorsPerFrame, int bufferCount,
                         Duration retransmitAfter, int tries) throws IOException {
        this.socket = socket;
        this.shelf = shelf;
        this.slot = slot;
        this.target = target;
        this.sectorsPerFrame = sectorsPerFrame;
        this.bufferCount = bufferCount;
        this.retransmitAfter = retransmitAfter;
        this.tries = tries;
        this.window = new Semaphore(bufferCount);
        this.reader = new Thread(this::readLoop, "aoe-initiator-reader");
        this.retransmitter = new Thread(this::retransmitLoop, "aoe-initiator-retransmit");
        reader.setDaemon(true);
        retransmitter.setDaemon(true);
        reader.start();
        retransmitter.start();
        byte[] id;
        try {
            id = ata(ATA_IDENTIFY_DEVICE, 0, 1, null, 0);
        } catch (IOException e) {
            close();
            throw e;
        }
        this.sectors = IdentifyDevice.sectors(java.util.Arrays.copyOfRange(id, ATA_HEADER, ATA_HEADER + SECTOR));
    }

    /**
     * Finds shelf.slot on the interface by a Query Config broadcast and asks its capacity.
     *
     * @throws IOException when no target answers within {@code discovery}
     */
    public static AoeInitiator connect(String interfaceName, int shelf, int slot, Duration discovery) throws IOException {
        RawSocket socket = RawSocket.open(interfaceName, ETHER_TYPE, 50, 8 << 20);
        try {
            byte[] query = new byte[MIN_FRAME];
            putHeader(query, MacAddress.BROADCAST, socket.mac(), 0, 0, shelf, slot, CMD_QUERY_CONFIG, 0x7FFF_0000L);
            putConfig(query, 0, 0, 0, CCMD_READ, new byte[0]);
            long deadline = System.nanoTime() + discovery.toNanos();
            byte[] in = new byte[socket.mtu() + ETHERNET_HEADER];
            long nextQuery = 0;
            while (System.nanoTime() < deadline) {
                if (System.nanoTime() >= nextQuery) {
                    socket.send(query, query.length);
                    nextQuery = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(250);
                }
                int n = socket.receive(in);
                if (n >= CONFIG_HEADER && etherType(in) == ETHER_TYPE && isResponse(in) && !isError(in)
                    && command(in) == CMD_QUERY_CONFIG && AoeFrame.shelf(in) == shelf && AoeFrame.slot(in) == slot) {
                    int scnt = Math.min(Math.max(1, configSectorCount(in)), AoeProtocol.sectorsPerFrame(socket.mtu()));
                    int buffers = Math.max(1, Math.min(configBufferCount(in), 256));
                    return new AoeInitiator(socket, shelf, slot, source(in), scnt, buffers, Duration.ofMillis(300), 10);
                }
            }
            throw new IOException("no AoE target e" + shelf + "." + slot + " answered on " + interfaceName + " within " + discovery);
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    public MacAddress target() {
        return target;
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

    /** Reads {@code count} sectors from {@code lba} into {@code into} at {@code offset}. */
    public void read(long lba, int count, byte[] into, int offset) throws IOException {
        transfer(lba, count, into, offset, false);
    }

    /** Writes {@code count} sectors to {@code lba} from {@code from} at {@code offset}; done when every frame is acknowledged. */
    public void write(long lba, int count, byte[] from, int offset) throws IOException {
        transfer(lba, count, from, offset, true);
    }

    private void transfer(long lba, int count, byte[] data, int offset, boolean write) throws IOException {
        int frames = (count + sectorsPerFrame - 1) / sectorsPerFrame;
        @SuppressWarnings("unchecked")
        CompletableFuture<byte[]>[] replies = new CompletableFuture[frames];
        for (int i = 0; i < frames; i++) {
            int n = Math.min(sectorsPerFrame, count - i * sectorsPerFrame);
            replies[i] = submit(write ? ATA_WRITE_SECTORS_EXT : ATA_READ_SECTORS_EXT, lba + (long) i * sectorsPerFrame, n,
                write ? data : null, offset + i * sectorsPerFrame * SECTOR);
        }
        for (int i = 0; i < frames; i++) {
            byte[] reply = await(replies[i]);
            if (!write) {
                int n = Math.min(sectorsPerFrame, count - i * sectorsPerFrame);
                System.arraycopy(reply, ATA_HEADER, data, offset + i * sectorsPerFrame * SECTOR, n * SECTOR);
            }
        }
    }

    private byte[] ata(int command, long lba, int count, byte[] data, int offset) throws IOException {
        return await(submit(command, lba, count, data, offset));
    }

    private CompletableFuture<byte[]> submit(int command, long lba, int count, byte[] data, int offset) throws IOException {
        if (!running) {
            throw new IOException("the AoE initiator for e" + shelf + "." + slot + " is closed");
        }
        try {
            window.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        int payload = data == null ? 0 : count * SECTOR;
        int length = Math.max(MIN_FRAME, ATA_HEADER + payload);
        byte[] frame = new byte[length];
        long tag = tags.getAndIncrement() & 0x7FFF_FFFFL;
        putHeader(frame, target, socket.mac(), 0, 0, shelf, slot, CMD_ATA, tag);
        int aflags = AFLAG_EXTENDED | (data != null ? AFLAG_WRITE : 0);
        putAta(frame, aflags, 0, count, command, lba);
        if (data != null) {
            System.arraycopy(data, offset, frame, ATA_HEADER, payload);
        }
        Pending p = new Pending(frame, length);
        p.reply.whenComplete((r, e) -> window.release());
        pending.put(tag, p);
        send(p);
        return p.reply;
    }

    private void send(Pending p) {
        p.sentNanos = System.nanoTime();
        p.sent++;
        try {
            socket.send(p.frame, p.length);
        } catch (IOException e) {
            // the retransmitter tries again
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

    private void readLoop() {
        byte[] in = new byte[socket.mtu() + ETHERNET_HEADER];
        while (running) {
            int n;
            try {
                n = socket.receive(in);
            } catch (IOException e) {
                continue;
            }
            if (n < HEADER || etherType(in) != ETHER_TYPE || !isResponse(in) || command(in) != CMD_ATA
                || !source(in).equals(target)) {
                continue;
            }
            Pending p = pending.remove(tag(in));
            if (p == null) {
                continue; // a late answer to a retransmitted request
            }
            if (isError(in)) {
                p.reply.completeExceptionally(new IOException("AoE target e" + shelf + "." + slot + " answered error " + error(in)));
            } else if (n < ATA_HEADER) {
                p.reply.completeExceptionally(new IOException("AoE target e" + shelf + "." + slot + " sent a short reply"));
            } else if ((ataCommand(in) & STATUS_ERR) != 0) {
                p.reply.completeExceptionally(new IOException(String.format("AoE target e%d.%d: ATA status %02x error %02x",
                    shelf, slot, ataCommand(in), ataError(in))));
            } else {
                int want = ATA_HEADER + ((AoeFrame.ataFlags(p.frame) & AFLAG_WRITE) != 0 ? 0 : ataSectorCount(p.frame) * SECTOR);
                if (n < want) {
                    p.reply.completeExceptionally(new IOException("AoE target e" + shelf + "." + slot + " sent " + n
                        + " bytes where " + want + " were due"));
                } else {
                    p.reply.complete(java.util.Arrays.copyOf(in, n));
                }
            }
        }
    }

    private void retransmitLoop() {
        long after = retransmitAfter.toNanos();
        while (running) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                continue;
            }
            long now = System.nanoTime();
            for (Iterator<Map.Entry<Long, Pending>> it = pending.entrySet().iterator(); it.hasNext(); ) {
                Pending p = it.next().getValue();
                if (now - p.sentNanos < after) {
                    continue;
                }
                if (p.sent >= tries) {
                    it.remove();
                    p.reply.completeExceptionally(new IOException("AoE target e" + shelf + "." + slot + " did not answer "
                        + p.sent + " tries; it is gone from " + socket.interfaceName()));
                } else {
                    send(p);
                }
            }
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
        socket.close();
        for (Pending p : pending.values()) {
            p.reply.completeExceptionally(new IOException("closed"));
        }
    }

}
