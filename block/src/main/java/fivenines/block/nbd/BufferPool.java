package fivenines.block.nbd;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

/**
 * Direct buffers for payloads, reused: allocating a direct buffer costs more than the I/O it
 * serves, and direct buffers let file and socket reads skip the JDK's copy through a temporary one.
 * Sizes are powers of two from 4 KiB; what is kept is bounded.
 */
final class BufferPool {
    private static final int SMALLEST_SHIFT = 12;
    private final List<ConcurrentLinkedDeque<ByteBuffer>> free;
    private final AtomicLong keptBytes = new AtomicLong();
    private final long keepAtMost;

    BufferPool(int largest, long keepAtMost) {
        this.keepAtMost = keepAtMost;
        free = IntStream.rangeClosed(0, sizeClass(largest)).mapToObj(i -> new ConcurrentLinkedDeque<ByteBuffer>()).toList();
    }

    private static int sizeClass(int length) {
        int shift = 32 - Integer.numberOfLeadingZeros(Math.max(length, 1) - 1);
        return Math.max(0, shift - SMALLEST_SHIFT);
    }

    /** A buffer with exactly {@code length} bytes remaining. */
    ByteBuffer take(int length) {
        int sizeClass = sizeClass(length);
        ByteBuffer buffer = sizeClass < free.size() ? free.get(sizeClass).pollFirst() : null;
        if (buffer == null) {
            buffer = ByteBuffer.allocateDirect(1 << (sizeClass + SMALLEST_SHIFT));
        } else {
            keptBytes.addAndGet(-buffer.capacity());
        }
        return buffer.clear().limit(length);
    }

    void give(ByteBuffer buffer) {
        int sizeClass = sizeClass(buffer.capacity());
        if (sizeClass < free.size() && keptBytes.addAndGet(buffer.capacity()) <= keepAtMost) {
            free.get(sizeClass).offerFirst(buffer);
        } else if (sizeClass < free.size()) {
            keptBytes.addAndGet(-buffer.capacity());
        }
    }
}
