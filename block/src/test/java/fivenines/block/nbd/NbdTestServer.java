package fivenines.block.nbd;

import fivenines.block.export.ExportRegistry;
import fivenines.block.export.FileExport;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A real server on loopback and a Unix socket, serving files, and a runner for the real clients. */
final class NbdTestServer implements AutoCloseable {
    final NbdServer server;
    final ExportRegistry registry = new ExportRegistry();
    final Path socket;
    private final List<FileExport> exports = new ArrayList<>();

    NbdTestServer(Path dir) throws IOException {
        socket = dir.resolve("nbd.sock");
        server = new NbdServer(NbdServer.Config.tcpAndUnix("127.0.0.1", 0, socket), registry);
        server.start();
    }

    FileExport serve(String name, Path file) throws IOException {
        var export = FileExport.wholeFile(name, file, false);
        exports.add(export);
        registry.add(export);
        return export;
    }

    String uri(String export) {
        return "nbd://127.0.0.1:" + server.tcpPort() + "/" + export;
    }

    String unixUri(String export) {
        return "nbd+unix:///" + export + "?socket=" + socket;
    }

    record Outcome(int exit, String out) {
    }

    static Outcome run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getOutputStream().close();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(120, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " did not finish");
        }
        return new Outcome(process.exitValue(), out);
    }

    static Outcome runOk(String... command) throws IOException, InterruptedException {
        Outcome outcome = run(command);
        if (outcome.exit() != 0) {
            throw new AssertionError(String.join(" ", command) + " exited " + outcome.exit() + ":\n" + outcome.out());
        }
        return outcome;
    }

    static Path sparseFile(Path dir, String name, long size) throws IOException {
        Path file = dir.resolve(name);
        try (var channel = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.CREATE_NEW,
            java.nio.file.StandardOpenOption.WRITE)) {
            channel.truncate(size);
            channel.write(java.nio.ByteBuffer.allocate(1), size - 1);
        }
        return file;
    }

    static String sha256(Path file) throws IOException {
        try (var in = Files.newInputStream(file)) {
            var digest = java.security.MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 20];
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
            return java.util.HexFormat.of().formatHex(digest.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (FileExport export : exports) {
            export.close();
        }
    }
}
