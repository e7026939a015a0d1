package fivenines.block.volume;

import fivenines.block.export.BlockExport;
import fivenines.block.export.Extent;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
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

    private final class Answering implements BlockExport, AutoCloseable {
        private final BlockExport device;

        Answering(BlockExport device) {
            this.device = device;
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
        public String name() {
            return device.name();
        }

        @Override
        public String description() {
            return device.description();
        }

        @Override
        public long size() {
            return device.size();
        }

        @Override
        public boolean readOnly() {
            return device.readOnly();
        }

        @Override
        public void read(long offset, ByteBuffer target) throws IOException {
            noted(() -> {
                device.read(offset, target);
                return done(null);
            });
        }

        @Override
        public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
            noted(() -> {
                device.write(offset, source, fua);
                return done(null);
            });
        }

        @Override
        public void flush() throws IOException {
            noted(() -> {
                device.flush();
                return done(null);
            });
        }

        @Override
        public void trim(long offset, long length) throws IOException {
            noted(() -> {
                device.trim(offset, length);
                return done(null);
            });
        }

        @Override
        public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
            noted(() -> {
                device.writeZeroes(offset, length, noHole, fua);
                return done(null);
            });
        }

        @Override
        public List<Extent> blockStatus(long offset, long length) throws IOException {
            return noted(() -> done(device.blockStatus(offset, length)));
        }

        @Override
        public boolean servesFromMemory() {
            return device.servesFromMemory();
        }

        @Override
        public boolean canMultiConn() {
            return device.canMultiConn();
        }

        @Override
        public boolean fastZero() {
            return device.fastZero();
        }

        @Override
        public int minimumBlockSize() {
            return device.minimumBlockSize();
        }

        @Override
        public int preferredBlockSize() {
            return device.preferredBlockSize();
        }

        @Override
        public int maximumBlockSize() {
            return device.maximumBlockSize();
        }

        @Override
        public void close() throws Exception {
            if (device instanceof AutoCloseable closeable) {
                closeable.close();
            }
        }
    }
}
