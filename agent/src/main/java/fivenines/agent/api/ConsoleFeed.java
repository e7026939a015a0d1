package fivenines.agent.api;

import fivenines.agent.vm.VmService.ConsoleChunk;
import fivenines.model.codec.Json;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * A VM's serial console as Server-Sent Events, for the web console: the new bytes of the console
 * file of the node the VM runs on, polled every {@code poll}. Events: {@code reset} (start afresh:
 * another node, a new QEMU, or the first bytes), {@code output} ({@code text}), {@code problem}
 * (the node could not be read; the feed goes on). The JDK's HTTP server has no WebSocket; the
 * console only ever flows one way, so a stream is all it needs (keystrokes are not sent).
 */
final class ConsoleFeed implements ApiServer.EventStream {
    static final int MOST = 16 * 1024;
    private static final Duration KEEPALIVE = Duration.ofSeconds(15);

    /** Reads the console file of a node from a byte offset (negative: its last bytes). */
    interface Source {
        ConsoleChunk read(String node, long from, int most) throws Exception;
    }

    private final Supplier<Optional<String>> runsOn;
    private final Source source;
    private final Duration poll;
    private final Duration longest;

    /**
     * @param runsOn the node the VM runs on now, empty while it runs nowhere
     * @param longest how long one stream lasts (the browser's EventSource connects again)
     */
    ConsoleFeed(Supplier<Optional<String>> runsOn, Source source, Duration poll, Duration longest) {
        this.runsOn = runsOn;
        this.source = source;
        this.poll = poll;
        this.longest = longest;
    }

    @Override
    public void writeTo(OutputStream out) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + longest.toNanos();
        String shownNode = null;
        long offset = -1;
        boolean first = true;
        String problem = null;
        long lastWrite = System.nanoTime();
        while (System.nanoTime() < deadline) {
            boolean more = false;
            try {
                Optional<String> node = runsOn.get();
                if (node.isEmpty()) {
                    if (first || shownNode != null) {
                        event(out, "reset", field("node", null));
                        lastWrite = System.nanoTime();
                    }
                    shownNode = null;
                    offset = -1;
                } else {
                    String at = node.get();
                    ConsoleChunk chunk = source.read(at, at.equals(shownNode) ? offset : -1, MOST);
                    if (!at.equals(shownNode) || chunk.start() != offset) {
                        event(out, "reset", field("node", at));
                        lastWrite = System.nanoTime();
                    }
                    if (!chunk.text().isEmpty()) {
                        event(out, "output", field("text", chunk.text()));
                        lastWrite = System.nanoTime();
                    }
                    shownNode = at;
                    offset = chunk.end();
                    more = chunk.end() - chunk.start() >= MOST;
                }
                problem = null;
            } catch (IOException clientGone) {
                throw clientGone;
            } catch (InterruptedException e) {
                throw e;
            } catch (Exception e) {
                String message = String.valueOf(e.getMessage());
                if (!message.equals(problem)) {
                    // said once, not at every poll while the node stays out of reach
                    event(out, "problem", field("message", message));
                    lastWrite = System.nanoTime();
                }
                problem = message;
            }
            first = false;
            if (System.nanoTime() - lastWrite > KEEPALIVE.toNanos()) {
                out.write(": keepalive\n\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                lastWrite = System.nanoTime();
            }
            if (!more) {
                Thread.sleep(poll);
            }
        }
    }

    private static Map<String, Object> field(String name, Object value) {
        var map = new LinkedHashMap<String, Object>();
        map.put(name, value);
        return map;
    }

    /** One event; its data is one line of JSON, so text with newlines needs no splitting. */
    static void event(OutputStream out, String name, Object data) throws IOException {
        out.write(("event: " + name + "\ndata: ").getBytes(StandardCharsets.US_ASCII));
        out.write(Json.bytes(data));
        out.write("\n\n".getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }
}
