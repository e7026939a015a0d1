package fivenines.block.export;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The exports a block service offers, changed at run time as volumes come and go.
 *
 * <p>An export can be <em>expected</em>: a client that asks for it while it is being set up
 * (a QEMU started while its volumes attach) waits in the handshake until it is added, the
 * expectation is withdrawn, or the wait runs out, instead of being told there is no such export.
 */
public final class ExportRegistry implements ExportResolver {
    private final ConcurrentSkipListMap<String, BlockExport> exports = new ConcurrentSkipListMap<>();
    private final ConcurrentHashMap<String, Expected> expected = new ConcurrentHashMap<>();

    private record Expected(CompletableFuture<BlockExport> arrival, long deadlineNanos) {
    }

    /** Adds an export, replacing one of the same name (connections to the old one keep it). */
    public void add(BlockExport export) {
        exports.put(export.name(), export);
        Expected waiting = expected.remove(export.name());
        if (waiting != null) {
            waiting.arrival.complete(export);
        }
    }

    public Optional<BlockExport> remove(String name) {
        return Optional.ofNullable(exports.remove(name));
    }

    public Optional<BlockExport> find(String name) {
        return Optional.ofNullable(exports.get(name));
    }

    /**
     * Says that an export of this name is about to be added: handshakes asking for it wait up to
     * {@code patience} for it. Withdraw with {@link #unexpect} if it will not come.
     */
    public void expect(String name, Duration patience) {
        if (!exports.containsKey(name)) {
            expected.putIfAbsent(name, new Expected(new CompletableFuture<>(), System.nanoTime() + patience.toNanos()));
        }
    }

    /** Withdraws an expectation: whoever waits for the export is told at once that there is none. */
    public void unexpect(String name) {
        Expected waiting = expected.remove(name);
        if (waiting != null) {
            waiting.arrival.complete(null);
        }
    }

    @Override
    public BlockExport resolve(String name) {
        BlockExport export = exports.get(name);
        Expected waiting = export == null ? expected.get(name) : null;
        if (waiting == null) {
            return export;
        }
        long left = waiting.deadlineNanos - System.nanoTime();
        try {
            return left <= 0 ? null : waiting.arrival.get(left, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        } catch (ExecutionException | TimeoutException e) {
            expected.remove(name, waiting);
            return exports.get(name);
        }
    }

    @Override
    public List<String> names() {
        return List.copyOf(exports.keySet());
    }
}
