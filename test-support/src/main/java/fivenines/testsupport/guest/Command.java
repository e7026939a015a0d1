package fivenines.testsupport.guest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/** Runs a host command to completion, failing with its output when it fails. */
final class Command {
    private Command() {
    }

    static String run(Path directory, String... argv) throws IOException, InterruptedException {
        var process = new ProcessBuilder(List.of(argv))
                .directory(directory.toFile())
                .redirectErrorStream(true)
                .start();
        process.getOutputStream().close();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int exit = process.waitFor();
        if (exit != 0) {
            throw new IOException(String.join(" ", argv) + " exited with " + exit + ": " + output.strip());
        }
        return output;
    }
}
