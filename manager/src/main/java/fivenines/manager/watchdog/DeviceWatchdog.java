package fivenines.manager.watchdog;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The Linux watchdog device: opening it arms it, each write holds the reset off for the driver's
 * timeout, and writing 'V' before closing disarms it (the "magic close" of the kernel's watchdog API).
 */
final class DeviceWatchdog implements Watchdog {
    private final Path device;
    private final FileChannel channel;
    private volatile boolean open = true;

    private DeviceWatchdog(Path device, FileChannel channel) {
        this.device = device;
        this.channel = channel;
    }

    static DeviceWatchdog open(Path device) throws IOException {
        return new DeviceWatchdog(device, FileChannel.open(device, StandardOpenOption.WRITE));
    }

    @Override
    public synchronized void kick() {
        if (!open) {
            return;
        }
        try {
            channel.write(ByteBuffer.wrap(new byte[] {'k'}));
        } catch (IOException e) {
            throw new IllegalStateException(device + ": cannot kick the watchdog: " + e.getMessage(), e);
        }
    }

    @Override
    public boolean armed() {
        return open;
    }

    @Override
    public String description() {
        return device + " (armed: kicked while this node holds its lease; the machine resets at the driver's timeout"
            + " otherwise)";
    }

    @Override
    public synchronized void close() {
        if (!open) {
            return;
        }
        open = false;
        try (channel) {
            channel.write(ByteBuffer.wrap(new byte[] {'V'}));
        } catch (IOException e) {
            throw new IllegalStateException(device + ": cannot disarm the watchdog: " + e.getMessage(), e);
        }
    }
}
