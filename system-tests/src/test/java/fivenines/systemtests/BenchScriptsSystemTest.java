package fivenines.systemtests;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A benchmark whose build fails says what failed and what Maven said, instead of exiting 1 in silence. */
class BenchScriptsSystemTest {
    private static final Path ROOT = Path.of(System.getProperty("nines.jar")).toAbsolutePath().normalize().getParent().getParent().getParent();

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"bench/store-bench.sh", "bench/nbd/bench.sh", "bench/volume/bench.sh"})
    void aFailingBuildIsReportedWithMavensOwnError(String script) throws Exception {
        // a Maven that fails as one with an empty cache does when offline
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Path mvn = Files.writeString(bin.resolve("mvn"), """
            #!/bin/sh
            echo "[ERROR] Plugin org.apache.maven.plugins:maven-dependency-plugin:3.8.1 or one of its dependencies could not be resolved"
            exit 1
            """);
        Files.setPosixFilePermissions(mvn, PosixFilePermissions.fromString("rwxr-xr-x"));
        var builder = new ProcessBuilder("bash", ROOT.resolve(script).toString(), "1")
            .redirectOutput(ProcessBuilder.Redirect.DISCARD);
        builder.environment().put("PATH", bin + ":" + System.getenv("PATH"));
        Process process = builder.start();
        String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), script + " did not finish");
        assertNotEquals(0, process.exitValue());
        assertTrue(err.contains("failed: (cd " + ROOT) && err.contains("maven-dependency-plugin:3.8.1"), script + " said: " + err);
    }
}
