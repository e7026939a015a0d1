package fivenines.vm.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A QMP connection to one QEMU over its Unix socket. Commands carry ids, so several threads
 * may call {@link #execute} at once. Events go to listeners on a thread of their own, so a
 * listener may itself execute commands.
 */
public final class QmpClient implements AutoCloseable {
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
    private static final Logger log = LoggerFactory.getLogger(QmpClient.class);
    private static final ObjectMapper json = new ObjectMapper();

    private final String vmName;
    private final Path socketPath;
    private final SocketChannel channel;
    private final AtomicLong nextId = new AtomicLong(1);
    private final Map<String, Pending> pending = new ConcurrentHashMap<>();
    private final CopyOnWriteArrayList<Consumer<QmpEvent>> listeners = new CopyOnWriteArrayList<>();
    private final CompletableFuture<JsonNode> greeting = new CompletableFuture<>();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private final ExecutorService eventDelivery;
    private final Thread reader;
    private volatile boolean closing;

    private record Pending(String command, CompletableFuture<JsonNode> answer) {
    }

    private QmpClient(String vmName, Path socketPath, SocketChannel channel) {
        this.vmName = vmName;
        this.socketPath = socketPath;
        this.channel = channel;
        this.eventDelivery = Executors.newSingleThreadExecutor(
                Thread.ofPlatform().daemon().name("qmp-events-" + vmName).factory());
        this.reader = Thread.ofPlatform().daemon().name("qmp-reader-" + vmName).unstarted(this::readLoop);
    }

    /**
     * Connects, reads the greeting and leaves capabilities negotiation mode. Retries until
     * the socket accepts or the timeout passes, since QEMU creates it a moment after start.
     */
    public static QmpClient connect(String vmName, Path socket, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        SocketChannel channel;
        while (true) {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                channel.connect(UnixDomainSocketAddress.of(socket));
                break;
            } catch (IOException notYet) {
                channel.close();
                if (System.nanoTime() > deadline) {
                    throw new QmpConnectionException(vmName, null,
                            "cannot connect to QMP socket " + socket + " within " + timeout + ": " + notYet.getMessage(), notYet);
                }
                Thread.sleep(50);
            }
        }
        var client = new QmpClient(vmName, socket, channel);
        client.reader.start();
        try {
            client.greeting.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            client.execute("qmp_capabilities", Map.of(), timeout);
        } catch (ExecutionException | TimeoutException | IOException failed) {
            client.close();
            throw new QmpConnectionException(vmName, null, "no QMP greeting on " + socket + ": " + failed, failed);
        }
        return client;
    }

    public String vmName() {
        return vmName;
    }

    public Path socketPath() {
        return socketPath;
    }

    /** QEMU's version as announced in the greeting, e.g. {@code 7.2.22}. */
    public String qemuVersion() {
        JsonNode version = greeting.getNow(json.nullNode()).path("QMP").path("version").path("qemu");
        return version.path("major").asInt() + "." + version.path("minor").asInt() + "." + version.path("micro").asInt();
    }

    public JsonNode execute(String command) throws QmpException, InterruptedException {
        return execute(command, Map.of(), DEFAULT_TIMEOUT);
    }

    public JsonNode execute(String command, Map<String, ?> arguments) throws QmpException, InterruptedException {
        return execute(command, arguments, DEFAULT_TIMEOUT);
    }

    /** Runs a command and returns its {@code return} value; QEMU's errors become {@link QmpCommandException}. */
    public JsonNode execute(String command, Map<String, ?> arguments, Duration timeout)
            throws QmpException, InterruptedException {
        String id = "nines-" + nextId.getAndIncrement();
        ObjectNode request = json.createObjectNode();
        request.put("execute", command);
        if (!arguments.isEmpty()) {
            request.set("arguments", json.valueToTree(arguments));
        }
        request.put("id", id);
        var answer = new CompletableFuture<JsonNode>();
        pending.put(id, new Pending(command, answer));
        try {
            send(command, request);
            return answer.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException slow) {
            throw new QmpConnectionException(vmName, command, "no answer to QMP " + command + " within " + timeout, slow);
        } catch (ExecutionException failed) {
            if (failed.getCause() instanceof QmpException qmp) {
                throw qmp;
            }
            throw new QmpConnectionException(vmName, command, "QMP " + command + " failed: " + failed.getCause(), failed.getCause());
        } finally {
            pending.remove(id);
        }
    }

    /** Listens to every event from now on; the listener runs on this client's event thread. */
    public void addEventListener(Consumer<QmpEvent> listener) {
        listeners.add(listener);
    }

    public void removeEventListener(Consumer<QmpEvent> listener) {
        listeners.remove(listener);
    }

    /** Completes when the connection ends, for instance because QEMU exited. */
    public CompletableFuture<Void> closed() {
        return closed;
    }

    public boolean isOpen() {
        return !closed.isDone();
    }

    @Override
    public void close() {
        closing = true;
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        eventDelivery.shutdown();
        try {
            reader.join(Duration.ofSeconds(2));
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private void send(String command, ObjectNode request) throws QmpConnectionException {
        try {
            byte[] bytes = (json.writeValueAsString(request) + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
            synchronized (channel) {
                var buffer = ByteBuffer.wrap(bytes);
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
            }
        } catch (IOException failed) {
            throw new QmpConnectionException(vmName, command, "cannot send QMP " + command + ": " + failed.getMessage(), failed);
        }
    }

    private void readLoop() {
        var buffer = ByteBuffer.allocate(64 * 1024);
        var line = new ByteArrayOutputStream();
        Throwable failure = null;
        try {
            while (channel.read(buffer) >= 0) {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    byte b = buffer.get();
                    if (b == '\n') {
                        handle(line.toByteArray());
                        line.reset();
                    } else {
                        line.write(b);
                    }
                }
                buffer.clear();
            }
        } catch (IOException | RuntimeException ended) {
            failure = ended;
        }
        String why = closing ? "QMP connection closed" : "QMP connection lost (QEMU exited?)" + (failure == null ? "" : ": " + failure);
        var lost = new QmpConnectionException(vmName, null, why, failure);
        greeting.completeExceptionally(lost);
        for (Pending waiting : pending.values()) {
            waiting.answer().completeExceptionally(
                    new QmpConnectionException(vmName, waiting.command(), why + " before QMP " + waiting.command() + " answered", failure));
        }
        closed.complete(null);
        eventDelivery.shutdown();
    }

    private void handle(byte[] bytes) throws IOException {
        if (bytes.length == 0 || (bytes.length == 1 && bytes[0] == '\r')) {
            return;
        }
        JsonNode message = json.readTree(bytes);
        if (message.has("QMP")) {
            greeting.complete(message);
        } else if (message.has("event")) {
            deliver(message);
        } else if (message.has("id")) {
            Pending waiting = pending.get(message.get("id").asText());
            if (waiting == null) {
                return;
            }
            if (message.has("error")) {
                JsonNode error = message.get("error");
                waiting.answer().completeExceptionally(new QmpCommandException(vmName, waiting.command(),
                        error.path("class").asText("unknown"), error.path("desc").asText("")));
            } else {
                waiting.answer().complete(message.path("return"));
            }
        } else {
            log.debug("VM {}: QMP message without id ignored: {}", vmName, message);
        }
    }

    private void deliver(JsonNode message) {
        JsonNode stamp = message.path("timestamp");
        var event = new QmpEvent(vmName, message.get("event").asText(),
                message.has("data") ? message.get("data") : json.createObjectNode(),
                Instant.ofEpochSecond(stamp.path("seconds").asLong(), stamp.path("microseconds").asLong() * 1000));
        try {
            eventDelivery.execute(() -> {
                for (Consumer<QmpEvent> listener : listeners) {
                    try {
                        listener.accept(event);
                    } catch (RuntimeException failed) {
                        log.warn("VM {}: listener failed on QMP event {}", vmName, event.name(), failed);
                    }
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            // the client is closing; nobody listens any more
        }
    }
}
