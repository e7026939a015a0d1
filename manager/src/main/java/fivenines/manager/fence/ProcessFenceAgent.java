package fivenines.manager.fence;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs the installed fence agents as processes: options on standard input, exit status and
 * output back, killed (with everything it started) when it outlives our timeout.
 */
public final class ProcessFenceAgent implements FenceAgent {
    private final List<Path> searchPath;

    public ProcessFenceAgent() {
        this(List.of(Path.of("/usr/sbin"), Path.of("/sbin"), Path.of("/usr/bin")));
    }

    public ProcessFenceAgent(List<Path> searchPath) {
        this.searchPath = List.copyOf(searchPath);
    }

    private Path find(String agent) {
        return searchPath.stream().map(dir -> dir.resolve(agent)).filter(Files::isExecutable).findFirst().orElse(null);
    }

    @Override
    public Run run(String agent, Map<String, String> options, Duration timeout) {
        long started = System.nanoTime();
        Path program = find(agent);
        if (program == null) {
            return new Run(-1, false, "no fence agent '" + agent + "' in " + searchPath
                + " (Debian's fence-agents package has the standard ones)", "", Duration.ZERO);
        }
        Process process;
        try {
            process = new ProcessBuilder(program.toString()).redirectErrorStream(true).start();
        } catch (IOException e) {
            return new Run(-1, false, agent + " cannot be started: " + e.getMessage(), "", Duration.ZERO);
        }
        var output = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "";
            }
        }, runnable -> Thread.ofVirtual().name("fence-agent-output").start(runnable));
        try (var stdin = process.getOutputStream()) {
            var text = new StringBuilder();
            options.forEach((key, value) -> text.append(key).append('=').append(value).append('\n'));
            stdin.write(text.toString().getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            // the agent exited before it read its options: its exit status says why
        }
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
                return new Run(-1, true, null, output.getNow(""), Duration.ofNanos(System.nanoTime() - started));
            }
            return new Run(process.exitValue(), false, null, output.get(5, TimeUnit.SECONDS).strip(),
                Duration.ofNanos(System.nanoTime() - started));
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            return new Run(-1, false, "interrupted while " + agent + " ran", "", Duration.ofNanos(System.nanoTime() - started));
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            return new Run(process.exitValue(), false, null, "", Duration.ofNanos(System.nanoTime() - started));
        }
    }
}
