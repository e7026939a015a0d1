package fivenines.block.aoe;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Packet sockets over a veth pair: queued frames go out in order, all of them, and nothing queued is left behind. */
class RawSocketTest {
    @BeforeAll
    static void needsRoot() {
        assumeTrue(Veth.available(), "needs root and iproute2 for veth pairs");
    }

    /** An AoE-typed frame from {@code from} to broadcast with {@code tag} in its first payload bytes, padded to {@code length}. */
    static byte[] frame(MacAddress from, int tag, int length) {
        byte[] f = new byte[length];
        MacAddress.BROADCAST.write(f, 0);
        from.write(f, 6);
        f[12] = (byte) (AoeProtocol.ETHER_TYPE >> 8);
        f[13] = (byte) AoeProtocol.ETHER_TYPE;
        f[14] = (byte) (tag >> 24);
        f[15] = (byte) (tag >> 16);
        f[16] = (byte) (tag >> 8);
        f[17] = (byte) tag;
        return f;
    }

    static int tag(byte[] f) {
        return (f[14] & 0xff) << 24 | (f[15] & 0xff) << 16 | (f[16] & 0xff) << 8 | f[17] & 0xff;
    }

    static List<Integer> receive(RawSocket socket, int count) throws IOException {
        return receive(socket, count, 5000);
    }

    static List<Integer> receive(RawSocket socket, int count, long millis) throws IOException {
        var tags = new ArrayList<Integer>();
        byte[] in = new byte[9100];
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (tags.size() < count && System.nanoTime() < deadline) {
            int n = socket.receive(in);
            if (n > 0) {
                tags.add(tag(in));
            }
        }
        return tags;
    }

    @Test
    void queuedFramesGoOutInOrderWithTheFrameSentAfterThem() throws Exception {
        try (var veth = Veth.create(false, 1500);
             var sender = RawSocket.open(veth.here, AoeProtocol.ETHER_TYPE, 200, 1 << 20);
             var listener = RawSocket.open(veth.there, AoeProtocol.ETHER_TYPE, 200, 1 << 20)) {
            // more than one batch: the queue sends itself when full, and the rest go with the send
            int queued = RawSocket.BATCH + 5;
            for (int i = 0; i < queued; i++) {
                sender.queue(frame(sender.mac(), i, 60 + i), 60 + i);
            }
            // a reply built in place goes after those queued before it
            var buffer = sender.frameBuffer();
            byte[] last = frame(sender.mac(), queued, 100);
            buffer.put(0, last);
            sender.sendPrepared(last.length);
            var expected = new ArrayList<Integer>();
            for (int i = 0; i <= queued; i++) {
                expected.add(i);
            }
            assertEquals(expected, receive(listener, queued + 1));
            // nothing is left queued: a queue of two and sendQueued sends exactly those two
            sender.queue(frame(sender.mac(), 100, 60), 60);
            sender.queue(frame(sender.mac(), 101, 60), 60);
            sender.sendQueued();
            sender.sendQueued(); // nothing more to send
            assertEquals(List.of(100, 101), receive(listener, 2));
            assertEquals(List.of(), receive(listener, 1, 500), "no frame is sent twice");
        }
    }

    @Test
    void aFrameBeyondTheMtuIsRefusedAndNothingIsQueued() throws Exception {
        try (var veth = Veth.create(false, 1500);
             var sender = RawSocket.open(veth.here, AoeProtocol.ETHER_TYPE, 200, 1 << 20);
             var listener = RawSocket.open(veth.there, AoeProtocol.ETHER_TYPE, 200, 1 << 20)) {
            byte[] huge = new byte[4000];
            var error = assertThrows(IOException.class, () -> sender.queue(huge, huge.length));
            assertTrue(error.getMessage().contains("beyond the MTU of " + veth.here), error.getMessage());
            sender.queue(frame(sender.mac(), 7, 60), 60);
            sender.sendQueued();
            assertEquals(List.of(7), receive(listener, 1));
        }
    }
}
