package fivenines.systemtests;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs a tool the tests use (ip, vblade, qemu-io) with no standard input. */
final class Commands {
    private Commands() {
    }

    /** Its output and error together; throws, with them, when it exits non-zero; fails the test after 120 s. */
    static String run(List<String> command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getOutputStream().close();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), command + " did not finish");
        if (process.exitValue() != 0) {
            throw new IOException(command + " failed: " + out);
        }
        return out;
    }
}
