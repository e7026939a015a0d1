package fivenines.block.nbd;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Direct buffers for payloads, reused: allocating a direct buffer costs more than the I/O it
 * serves, and direct buffers let file and socket reads skip the JDK's copy through a temporary one.
 * Sizes are powers of two from 4 KiB; what is kept is bounded.
 */
final class BufferPool {
    private static final int SMALLEST_SHIFT = 12;
    private final ConcurrentLinkedDeque<ByteBuffer>[] free;
    private final AtomicLong keptBytes = new AtomicLong();
    private final long keepAtMost;

    @SuppressWarnings("unchecked")
    BufferPool(int largest, long keepAtMost) {
        this.keepAtMost = keepAtMost;
        free = new ConcurrentLinkedDeque[sizeClass(largest) + 1];
        for (int i = 0; i < free.length; i++) {
            free[i] = new ConcurrentLinkedDeque<>();
        }
    }

    private static int sizeClass(int length) {
        int shift = 32 - Integer.numberOfLeadingZeros(Math.max(length, 1) - 1);
        return Math.max(0, shift - SMALLEST_SHIFT);
    }

    /** A buffer with exactly {@code length} bytes remaining. */
    ByteBuffer take(int length) {
        int sizeClass = sizeClass(length);
        ByteBuffer buffer = sizeClass < free.length ? free[sizeClass].pollFirst() : null;
        if (buffer == null) {
            buffer = ByteBuffer.allocateDirect(1 << (sizeClass + SMALLEST_SHIFT));
        } else {
            keptBytes.addAndGet(-buffer.capacity());
        }
        return buffer.clear().limit(length);
    }

    void give(ByteBuffer buffer) {
        int sizeClass = sizeClass(buffer.capacity());
        if (sizeClass < free.length && keptBytes.addAndGet(buffer.capacity()) <= keepAtMost) {
            free[sizeClass].offerFirst(buffer);
        } else if (sizeClass < free.length) {
            keptBytes.addAndGet(-buffer.capacity());
        }
    }
}
