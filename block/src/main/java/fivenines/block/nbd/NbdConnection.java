package fivenines.block.nbd;

import fivenines.block.export.ExportResolver;

import java.io.IOException;
import java.time.Duration;

/** One client from accept to hang-up: the handshake, under a deadline, then transmission. */
final class NbdConnection {
    private final NbdServer.Config config;
    private final ExportResolver exports;
    private final BufferPool buffers;
    private final NbdWire wire;
    private final boolean tcp;
    private final String name;

    NbdConnection(NbdServer.Config config, ExportResolver exports, BufferPool buffers, NbdWire wire, boolean tcp,
                  String name) {
        this.config = config;
        this.exports = exports;
        this.buffers = buffers;
        this.wire = wire;
        this.tcp = tcp;
        this.name = name;
    }

    void run() throws IOException {
        var input = new NbdInput(wire);
        var handshake = new NbdHandshake(config, exports, wire, input, tcp);
        // a client that connects and never finishes the handshake would hold a connection slot for ever
        Thread deadline = Thread.ofVirtual().name(name + "-handshake-deadline").start(() -> closeAfter(config.handshakeTimeout()));
        NbdHandshake.Negotiated negotiated;
        try {
            negotiated = handshake.negotiate();
        } finally {
            deadline.interrupt();
        }
        if (negotiated == null) {
            return;
        }
        try {
            new NbdTransmission(config, negotiated, input, buffers, name).run();
        } finally {
            negotiated.wire().close();
        }
    }

    private void closeAfter(Duration timeout) {
        try {
            Thread.sleep(timeout);
            wire.close();
        } catch (InterruptedException finishedInTime) {
            // the handshake ended first
        }
    }
}
