package fivenines.agent.api;

import fivenines.agent.vm.VmService.ConsoleChunk;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ConsoleFeedTest {
    @Test
    void theFeedSendsNewBytesOnceAndStartsAfreshOnAnotherNodeOnANewFileAndWhenTheVmStops() throws Exception {
        // where the VM runs at each poll; then it runs nowhere
        var where = new ArrayDeque<>(List.of("node0", "node0", "node0", "node1", "node1"));
        var asked = new ArrayList<String>();
        ConsoleFeed.Source source = (node, from, most) -> {
            asked.add(node + "@" + from);
            return switch (asked.size()) {
                case 1 -> new ConsoleChunk(0, 6, "boot\r\n");
                case 2 -> new ConsoleChunk(6, 6, "");
                case 3 -> new ConsoleChunk(6, 10, "seq\n");
                case 4 -> new ConsoleChunk(0, 5, "here\n");
                default -> new ConsoleChunk(0, 3, "new"); // asked from 5 but given from 0: a new QEMU's file
            };
        };
        var out = new ByteArrayOutputStream();
        // runs for its longest time (2 s, long enough for a cold JSON encoder), then ends
        new ConsoleFeed(() -> Optional.ofNullable(where.poll()), source, Duration.ofMillis(1), Duration.ofSeconds(2)).writeTo(out);
        assertEquals(List.of("node0@-1", "node0@6", "node0@6", "node1@-1", "node1@5"), asked);
        assertEquals("""
            event: reset
            data: {"node":"node0"}

            event: output
            data: {"text":"boot\\r\\n"}

            event: output
            data: {"text":"seq\\n"}

            event: reset
            data: {"node":"node1"}

            event: output
            data: {"text":"here\\n"}

            event: reset
            data: {"node":"node1"}

            event: output
            data: {"text":"new"}

            event: reset
            data: {}

            """, out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aNodeOutOfReachIsSaidOnceAndTheFeedGoesOnWhenItAnswersAgain() throws Exception {
        var calls = new java.util.concurrent.atomic.AtomicInteger();
        ConsoleFeed.Source source = (node, from, most) -> {
            int call = calls.incrementAndGet();
            if (call <= 20) {
                throw new IllegalStateException("node '" + node + "' cannot be reached");
            }
            return call == 21 ? new ConsoleChunk(0, 4, "back") : new ConsoleChunk(4, 4, "");
        };
        var out = new ByteArrayOutputStream();
        new ConsoleFeed(() -> Optional.of("node1"), source, Duration.ofMillis(1), Duration.ofSeconds(1)).writeTo(out);
        assertEquals("""
            event: problem
            data: {"message":"node 'node1' cannot be reached"}

            event: reset
            data: {"node":"node1"}

            event: output
            data: {"text":"back"}

            """, out.toString(StandardCharsets.UTF_8));
        org.junit.jupiter.api.Assertions.assertTrue(calls.get() > 21, "polled on after the problem: " + calls.get());
        org.junit.jupiter.api.Assertions.assertTrue(calls.get() < 1100, "and slept between polls: " + calls.get());
    }
}
