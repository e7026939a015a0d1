package fivenines.block.volume;

import fivenines.block.export.BlockExport;
import fivenines.block.export.Extent;
import fivenines.block.export.ForwardingExport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The devices of one mirror leg, noting when the leg last answered: each request its devices
 * finish (with data or with an error reply) and each device opened. The mirror engine counts a
 * leg late from its last answer, not from the start of a large request: a leg that goes on
 * answering piece by piece is slow, not gone (a cold connection's first megabytes, a busy node),
 * and only a leg that falls silent for the leg timeout is taken out of the set.
 */
final class AnsweringDevices implements ChunkDevices {
    private final ChunkDevices devices;
    private final AtomicLong answered = new AtomicLong(System.nanoTime());

    AnsweringDevices(ChunkDevices devices) {
        this.devices = devices;
    }

    /** {@link System#nanoTime()} when the leg last answered. */
    long lastAnswer() {
        return answered.get();
    }

    void answered() {
        answered.accumulateAndGet(System.nanoTime(), Math::max);
    }

    @Override
    public BlockExport open(String physicalVolume, String volume, long epoch) throws IOException {
        BlockExport device = devices.open(physicalVolume, volume, epoch);
        answered();
        return new Answering(device);
    }

    @Override
    public boolean isLocal(String physicalVolume) {
        return devices.isLocal(physicalVolume);
    }

    private interface Call<T> {
        T run() throws IOException;
    }

    private final class Answering extends ForwardingExport implements AutoCloseable {
        Answering(BlockExport device) {
            super(device);
        }

        private <T> T noted(Call<T> call) throws IOException {
            try {
                return call.run();
            } catch (fivenines.block.nbd.NbdErrorException reply) {
                answered(); // an error reply is an answer too; a lost connection is none
                throw reply;
            }
        }

        private <T> T done(T value) {
            answered();
            return value;
        }

        @Override
        public void read(long offset, ByteBuffer target) throws IOException {
            noted(() -> {
                delegate.read(offset, target);
                return done(null);
            });
        }

        @Override
        public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
            noted(() -> {
                delegate.write(offset, source, fua);
                return done(null);
            });
        }

        @Override
        public CompletableFuture<Void> startRead(long offset, ByteBuffer target) {
            return noted(delegate.startRead(offset, target));
        }

        @Override
        public CompletableFuture<Void> startWrite(long offset, ByteBuffer source, boolean fua) {
            return noted(delegate.startWrite(offset, source, fua));
        }

        /** An answer, as for a request waited for: done, or an error reply. */
        private CompletableFuture<Void> noted(CompletableFuture<Void> started) {
            if (started != null) {
                started.whenComplete((ignored, e) -> {
                    if (e == null || e instanceof fivenines.block.nbd.NbdErrorException
                        || e.getCause() instanceof fivenines.block.nbd.NbdErrorException) {
                        answered();
                    }
                });
            }
            return started;
        }

        @Override
        public void flush() throws IOException {
            noted(() -> {
                delegate.flush();
                return done(null);
            });
        }

        @Override
        public void trim(long offset, long length) throws IOException {
            noted(() -> {
                delegate.trim(offset, length);
                return done(null);
            });
        }

        @Override
        public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
            noted(() -> {
                delegate.writeZeroes(offset, length, noHole, fua);
                return done(null);
            });
        }

        @Override
        public List<Extent> blockStatus(long offset, long length) throws IOException {
            return noted(() -> done(delegate.blockStatus(offset, length)));
        }

        @Override
        public void close() throws Exception {
            if (delegate instanceof AutoCloseable closeable) {
                closeable.close();
            }
        }
    }
}
