package fivenines.block.nbd;

import fivenines.block.export.BlockExport;
import fivenines.block.export.Extent;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Phaser;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

import static fivenines.block.nbd.NbdProtocol.*;

/**
 * The transmission phase of one connection. One thread reads requests. A request that arrives
 * alone (nothing in flight, nothing more buffered) is served on that thread, which spares a
 * hand-off at queue depth 1; otherwise each request runs on its own virtual thread and replies
 * when done, so replies may come out of order.
 */
final class NbdTransmission {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(NbdTransmission.class);

    static final int MAX_REQUESTS_IN_FLIGHT = 64;
    /** Reads shorter than this are sent as one data chunk without looking for holes. */
    private static final int HOLE_SCAN_MINIMUM = 64 * 1024;
    private static final int MAX_STATUS_EXTENTS = 2048;
    private static final int REQUEST_HEADER_LENGTH = 28;
    /** Requests up to this length may be served on the reader thread while others are queued. */
    private static final int INLINE_MAXIMUM_LENGTH = 64 * 1024;
    /** ... but only while such requests take less than this on average (a page-cache hit does). */
    private static final long INLINE_MAXIMUM_NANOS = 50_000;

    private record Request(int flags, int type, long cookie, long offset, long length, ByteBuffer payload) {
        boolean has(int flag) {
            return (flags & flag) != 0;
        }
    }

    private final NbdHandshake.Negotiated negotiated;
    private final BlockExport export;
    private final NbdInput input;
    private final NbdReplies replies;
    private final BufferPool buffers;
    private final int maximumBlockSize;
    private final ThreadFactory requestThreads;
    private final Semaphore requestSlots = new Semaphore(MAX_REQUESTS_IN_FLIGHT);
    private final Semaphore payloadBudget;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final Phaser pending = new Phaser(1);
    /** Moving average of how long small requests take, racy by design: it only steers a choice. */
    private volatile long smallRequestNanos;

    NbdTransmission(NbdServer.Config config, NbdHandshake.Negotiated negotiated, NbdInput input, BufferPool buffers,
                    String connectionName) {
        this.negotiated = negotiated;
        this.export = negotiated.export();
        this.input = input;
        this.replies = new NbdReplies(negotiated.wire());
        this.buffers = buffers;
        this.maximumBlockSize = NbdHandshake.maximumBlockSize(config, export);
        // payload bytes held by requests in flight: bounds memory per connection
        this.payloadBudget = new Semaphore(payloadBudget(config));
        this.requestThreads = Thread.ofVirtual().name(connectionName + "-request-", 0).factory();
    }

    static int payloadBudget(NbdServer.Config config) {
        return (int) Math.min(Integer.MAX_VALUE, Math.max(64L << 20, 2L * config.maxPayload()));
    }

    /** Serves requests until the client disconnects; returns once every started request has replied. */
    void run() throws IOException {
        try {
            while (true) {
                replies.corked(input.buffered() >= REQUEST_HEADER_LENGTH);
                int magic = input.readInt();
                if (magic != REQUEST_MAGIC) {
                    throw new IOException("bad request magic 0x" + Integer.toHexString(magic));
                }
                int flags = Short.toUnsignedInt(input.readShort());
                int type = Short.toUnsignedInt(input.readShort());
                long cookie = input.readLong();
                long offset = input.readLong();
                long length = Integer.toUnsignedLong(input.readInt());
                if (type == CMD_DISC) {
                    return;
                }
                int cost = (type == CMD_READ || type == CMD_WRITE) ? (int) Math.min(length, maximumBlockSize) : 0;
                ByteBuffer payload = null;
                if (type == CMD_WRITE) {
                    if (length > maximumBlockSize) {
                        // the payload would have to be read to find the next request; hang up instead
                        throw new IOException("WRITE of " + length + " bytes is over the " + maximumBlockSize
                            + "-byte limit; closing the connection");
                    }
                    acquire(payloadBudget, cost);
                    payload = buffers.take(cost);
                    try {
                        input.readFully(payload);
                    } catch (IOException e) {
                        buffers.give(payload);
                        payloadBudget.release(cost);
                        throw e;
                    }
                    payload.flip();
                } else {
                    acquire(payloadBudget, cost);
                }
                var request = new Request(flags, type, cookie, offset, length, payload);
                if (!export.servesFromMemory() && startable(request)) {
                    acquire(requestSlots, 1);
                    inFlight.incrementAndGet();
                    pending.register();
                    if (started(request, cost)) {
                        continue;
                    }
                    inFlight.decrementAndGet();
                    requestSlots.release();
                    pending.arriveAndDeregister();
                }
                if (servedInline(request)) {
                    serveAndRelease(request, cost);
                    continue;
                }
                acquire(requestSlots, 1);
                inFlight.incrementAndGet();
                pending.register();
                serveOnThread(request, cost);
            }
        } finally {
            pending.arriveAndAwaitAdvance();
            replies.corked(false);
        }
    }

    /** Serves a request on a thread of its own; its slot and registration were taken, and are given back when it replied. */
    private void serveOnThread(Request request, int cost) {
        requestThreads.newThread(() -> {
            try {
                serveAndRelease(request, cost);
            } catch (IOException e) {
                // the reply could not be sent: the connection is broken, end it
                negotiated.wire().close();
            } finally {
                ended();
            }
        }).start();
    }

    private void ended() {
        inFlight.decrementAndGet();
        requestSlots.release();
        pending.arriveAndDeregister();
    }

    /** A plain READ or WRITE inside the export, which the export may start without a thread waiting for it. */
    private boolean startable(Request request) {
        long size = export.size();
        boolean inside = request.length() > 0 && request.length() <= maximumBlockSize && request.offset() >= 0
            && request.offset() <= size && request.length() <= size - request.offset();
        return switch (request.type()) {
            case CMD_READ -> inside && (!negotiated.structuredReplies() || request.has(CMD_FLAG_DF)
                || request.length() < HOLE_SCAN_MINIMUM);
            case CMD_WRITE -> inside && !export.readOnly();
            default -> false;
        };
    }

    /**
     * Starts the request on the export ({@link BlockExport#startRead}, {@link BlockExport#startWrite}):
     * no thread waits for it, and the reply leaves from the thread that completes it (the reply
     * reader of the connection to another node). False when the export would not start it. A start
     * that fails is served again on a thread of its own, the usual way, which retries or replies
     * with the error.
     */
    private boolean started(Request request, int cost) {
        ByteBuffer data = request.type() == CMD_READ ? buffers.take((int) request.length()) : null;
        java.util.concurrent.CompletableFuture<Void> started;
        try {
            started = data != null ? export.startRead(request.offset(), data)
                : export.startWrite(request.offset(), request.payload().duplicate(), request.has(CMD_FLAG_FUA));
        } catch (RuntimeException e) {
            LOG.warn("export {}: starting request type {} at {} failed; serving it the usual way", export.name(),
                request.type(), request.offset(), e);
            started = null;
        }
        if (started == null) {
            if (data != null) {
                buffers.give(data);
            }
            return false;
        }
        started.whenComplete((done, failure) -> {
            if (failure != null) {
                if (data != null) {
                    buffers.give(data);
                }
                serveOnThread(request, cost);
                return;
            }
            try {
                if (data != null) {
                    data.position(0).limit((int) request.length()); // filled through a slice: its own position has not moved
                    if (negotiated.structuredReplies()) {
                        replies.offsetData(request.cookie(), request.offset(), data, true);
                    } else {
                        replies.simple(request.cookie(), 0, data);
                    }
                } else {
                    replies.simple(request.cookie(), 0);
                }
            } catch (IOException | RuntimeException e) {
                negotiated.wire().close(); // the reply could not be sent: the connection is broken, end it
            } finally {
                if (data != null) {
                    buffers.give(data);
                }
                if (request.payload() != null) {
                    buffers.give(request.payload());
                }
                payloadBudget.release(cost);
                ended();
            }
        });
        return true;
    }

    /** Takes permits; replies collected so far leave first if that means waiting. */
    private void acquire(Semaphore semaphore, int permits) throws IOException {
        if (!semaphore.tryAcquire(permits)) {
            replies.corked(false);
            semaphore.acquireUninterruptibly(permits);
        }
    }

    /**
     * Serving on the reader thread spares a thread hand-off, which costs more than a page-cache
     * hit; handing off lets slow requests (flushes, FUA, large or slow transfers) overlap.
     */
    private boolean servedInline(Request request) {
        if (!export.servesFromMemory()) {
            // it may wait on another node: only a lone read or write is served in place (nothing is in
            // flight or waiting to be read, so nothing is held up while it waits); the rest are handed off
            return inFlight.get() == 0 && !input.hasBuffered() && (request.type() == CMD_READ || request.type() == CMD_WRITE)
                && !request.has(CMD_FLAG_FUA) && request.length() <= INLINE_MAXIMUM_LENGTH;
        }
        if (inFlight.get() == 0 && !input.hasBuffered()) {
            return true; // nothing to overlap with
        }
        return request.type() != CMD_FLUSH && !request.has(CMD_FLAG_FUA) && request.length() <= INLINE_MAXIMUM_LENGTH
            && smallRequestNanos < INLINE_MAXIMUM_NANOS;
    }

    private void serveAndRelease(Request request, int cost) throws IOException {
        long start = System.nanoTime();
        try {
            serve(request);
        } finally {
            if (request.length() <= INLINE_MAXIMUM_LENGTH && request.type() != CMD_FLUSH) {
                long average = smallRequestNanos;
                smallRequestNanos = average + (System.nanoTime() - start - average) / 8;
            }
            if (request.payload() != null) {
                buffers.give(request.payload());
            }
            payloadBudget.release(cost);
        }
    }

    private void serve(Request request) throws IOException {
        try {
            switch (request.type()) {
                case CMD_READ -> read(request);
                case CMD_WRITE -> {
                    checkWritable(request, ENOSPC);
                    export.write(request.offset(), request.payload(), request.has(CMD_FLAG_FUA));
                    replies.simple(request.cookie(), 0);
                }
                case CMD_FLUSH -> {
                    export.flush();
                    replies.simple(request.cookie(), 0);
                }
                case CMD_TRIM -> {
                    checkWritable(request, EINVAL);
                    export.trim(request.offset(), request.length());
                    if (request.has(CMD_FLAG_FUA)) {
                        export.flush();
                    }
                    replies.simple(request.cookie(), 0);
                }
                case CMD_WRITE_ZEROES -> {
                    checkWritable(request, ENOSPC);
                    boolean noHole = request.has(CMD_FLAG_NO_HOLE);
                    if (request.has(CMD_FLAG_FAST_ZERO) && (noHole || !export.fastZero())) {
                        // the client would rather zero some other way than wait for slow zeroing
                        throw new NbdErrorException(ENOTSUP, "zeroing here would be slow");
                    }
                    export.writeZeroes(request.offset(), request.length(), noHole, request.has(CMD_FLAG_FUA));
                    replies.simple(request.cookie(), 0);
                }
                case CMD_CACHE -> {
                    // the export is served from the page cache already; there is nothing to prefetch into
                    checkRange(request, EINVAL);
                    replies.simple(request.cookie(), 0);
                }
                case CMD_BLOCK_STATUS -> blockStatus(request);
                default -> throw new NbdErrorException(EINVAL, "unknown command " + request.type());
            }
        } catch (NbdReplies.BrokenConnection e) {
            throw e;
        } catch (NbdErrorException e) {
            if (e.errno() != EINVAL && e.errno() != ENOTSUP) {
                LOG.warn("export {}: request type {} at {} (+{}) failed: {}", export.name(), request.type(), request.offset(),
                    request.length(), e.getMessage());
            }
            fail(request, e.errno(), e.getMessage());
        } catch (IOException | RuntimeException e) {
            // the export failed, not the connection: this request gets EIO and the rest go on
            LOG.warn("export {}: request type {} at {} (+{}) failed with EIO", export.name(), request.type(), request.offset(),
                request.length(), e);
            fail(request, EIO, e.getMessage());
        }
    }

    private void checkWritable(Request request, int pastEndErrno) throws NbdErrorException {
        if (export.readOnly()) {
            throw new NbdErrorException(EPERM, "the export is read-only");
        }
        checkRange(request, pastEndErrno);
    }

    private void checkRange(Request request, int pastEndErrno) throws NbdErrorException {
        if (request.length() == 0) {
            throw new NbdErrorException(EINVAL, "zero-length request");
        }
        long size = export.size();
        if (request.offset() < 0 || request.offset() > size || request.length() > size - request.offset()) {
            throw new NbdErrorException(pastEndErrno, "request beyond the end of the export");
        }
    }

    private void read(Request request) throws IOException {
        checkRange(request, EINVAL);
        if (request.length() > maximumBlockSize) {
            throw new NbdErrorException(EOVERFLOW, "READ over the " + maximumBlockSize + "-byte limit");
        }
        boolean structured = negotiated.structuredReplies();
        if (!structured || request.has(CMD_FLAG_DF) || request.length() < HOLE_SCAN_MINIMUM) {
            ByteBuffer data = buffers.take((int) request.length());
            try {
                export.read(request.offset(), data);
                data.flip();
                if (structured) {
                    replies.offsetData(request.cookie(), request.offset(), data, true);
                } else {
                    replies.simple(request.cookie(), 0, data);
                }
            } finally {
                buffers.give(data);
            }
            return;
        }
        sparseRead(request);
    }

    /** A structured READ in chunks: holes as OFFSET_HOLE (no data sent), the rest as OFFSET_DATA. */
    private void sparseRead(Request request) throws IOException {
        long position = request.offset();
        long end = request.offset() + request.length();
        List<Extent> extents = export.blockStatus(position, request.length());
        int index = 0;
        while (position < end) {
            Extent extent = index < extents.size() ? extents.get(index++) : null;
            boolean hole = extent != null && extent.zero();
            long length = extent == null || extent.length() <= 0 ? end - position : Math.min(extent.length(), end - position);
            boolean last = position + length == end;
            if (hole) {
                replies.offsetHole(request.cookie(), position, (int) length, last);
            } else {
                ByteBuffer data = buffers.take((int) length);
                try {
                    try {
                        export.read(position, data);
                    } catch (NbdErrorException e) {
                        replies.errorAt(request.cookie(), e.errno(), e.getMessage(), position);
                        return;
                    } catch (IOException e) {
                        replies.errorAt(request.cookie(), EIO, e.getMessage(), position);
                        return;
                    }
                    replies.offsetData(request.cookie(), position, data.flip(), last);
                } finally {
                    buffers.give(data);
                }
            }
            position += length;
        }
    }

    private void blockStatus(Request request) throws IOException {
        if (!negotiated.structuredReplies() || !negotiated.allocationContext()) {
            throw new NbdErrorException(EINVAL, "BLOCK_STATUS needs structured replies and the base:allocation context");
        }
        checkRange(request, EINVAL);
        List<Extent> extents = export.blockStatus(request.offset(), request.length());
        int wanted = request.has(CMD_FLAG_REQ_ONE) ? 1 : MAX_STATUS_EXTENTS;
        int count = 0;
        long remaining = request.length();
        int[] descriptors = new int[2 * Math.min(wanted, Math.max(1, extents.size()))];
        for (Extent extent : extents) {
            long length = Math.min(extent.length(), remaining);
            if (length <= 0 || count == descriptors.length / 2) {
                break;
            }
            descriptors[2 * count] = (int) length;
            descriptors[2 * count + 1] = extent.flags();
            count++;
            remaining -= length;
        }
        if (count == 0) {
            throw new NbdErrorException(EIO, "the export reported no allocation for the range");
        }
        replies.blockStatus(request.cookie(), BASE_ALLOCATION_ID, java.util.Arrays.copyOf(descriptors, 2 * count));
    }

    private void fail(Request request, int errno, String message) throws IOException {
        if (negotiated.structuredReplies() && (request.type() == CMD_READ || request.type() == CMD_BLOCK_STATUS)) {
            replies.error(request.cookie(), errno, message);
        } else {
            replies.simple(request.cookie(), errno);
        }
    }
}
