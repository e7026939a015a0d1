package fivenines.bench.aoe;

import fivenines.block.aoe.AoeInitiator;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Load through {@link AoeInitiator} against one AoE target:
 * {@code AoeLoad IF SHELF SLOT read|write|randread|randwrite BLOCK_BYTES QUEUE_DEPTH SECONDS}.
 * QUEUE_DEPTH threads each keep one request of BLOCK_BYTES in flight (a request of many frames
 * sends them all at once). Sequential threads each walk their own part of the device.
 * Prints {@code iops N mibs N} on one line.
 */
public final class AoeLoad {
    private AoeLoad() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 7) {
            System.err.println("usage: AoeLoad IF SHELF SLOT read|write|randread|randwrite BLOCK_BYTES QUEUE_DEPTH SECONDS");
            System.exit(2);
        }
        String mode = args[3];
        int block = Integer.parseInt(args[4]);
        int depth = Integer.parseInt(args[5]);
        long seconds = Long.parseLong(args[6]);
        if (block % 512 != 0 || block <= 0) {
            throw new IllegalArgumentException("BLOCK_BYTES must be a positive multiple of 512");
        }
        boolean write = mode.endsWith("write");
        boolean random = mode.startsWith("rand");
        try (var initiator = AoeInitiator.connect(args[0], Integer.parseInt(args[1]), Integer.parseInt(args[2]), Duration.ofSeconds(10))) {
            int sectorsPerBlock = block / 512;
            long blocks = initiator.sectors() / sectorsPerBlock;
            long end = System.nanoTime() + seconds * 1_000_000_000L;
            var done = new AtomicLong();
            var errors = new AtomicLong();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < depth; t++) {
                int index = t;
                threads.add(Thread.ofPlatform().start(() -> {
                    byte[] data = new byte[block];
                    ThreadLocalRandom.current().nextBytes(data);
                    long part = blocks / depth;
                    long next = index * part;
                    while (System.nanoTime() < end) {
                        long at = random ? ThreadLocalRandom.current().nextLong(blocks) : next;
                        next = next + 1 >= (index + 1) * part ? index * part : next + 1;
                        try {
                            if (write) {
                                initiator.write(at * sectorsPerBlock, sectorsPerBlock, data, 0);
                            } else {
                                initiator.read(at * sectorsPerBlock, sectorsPerBlock, data, 0);
                            }
                            done.incrementAndGet();
                        } catch (Exception e) {
                            if (errors.incrementAndGet() == 1) {
                                System.err.println("AoeLoad: " + e.getMessage());
                            }
                        }
                    }
                }));
            }
            long start = System.nanoTime();
            for (Thread t : threads) {
                t.join();
            }
            double elapsed = (System.nanoTime() - start) / 1e9;
            double iops = done.get() / elapsed;
            System.out.printf("iops %.0f mibs %.1f errors %d%n", iops, iops * block / (1 << 20), errors.get());
        }
    }
}
