package fivenines.block.aoe;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A veth pair made for a test: one end here, the other here too or in a network namespace of
 * its own; no IP address on either, so only the frames the test sends travel on it. Root only.
 */
final class Veth implements AutoCloseable {
    private static final AtomicInteger NEXT = new AtomicInteger();
    final String here;
    final String there;
    final String namespace;

    private Veth(String here, String there, String namespace) {
        this.here = here;
        this.there = there;
        this.namespace = namespace;
    }

    static boolean available() {
        try {
            return "0".equals(run(List.of("id", "-u")).strip()) && run(List.of("ip", "-V")) != null;
        } catch (IOException e) {
            return false;
        }
    }

    /** A pair; with {@code inNamespace} the far end is moved into a new namespace. */
    static Veth create(boolean inNamespace, int mtu) throws IOException {
        String id = ProcessHandle.current().pid() % 10000 + "x" + NEXT.incrementAndGet();
        String here = "aoh" + id;
        String there = "aot" + id;
        String ns = inNamespace ? "aoens" + id : null;
        run(List.of("ip", "link", "add", here, "mtu", "" + mtu, "type", "veth", "peer", "name", there, "mtu", "" + mtu));
        var veth = new Veth(here, there, ns);
        try {
            if (ns != null) {
                run(List.of("ip", "netns", "add", ns));
                run(List.of("ip", "link", "set", there, "netns", ns));
                run(List.of("ip", "netns", "exec", ns, "ip", "link", "set", there, "up"));
            } else {
                run(List.of("ip", "link", "set", there, "up"));
            }
            run(List.of("ip", "link", "set", here, "up"));
        } catch (IOException e) {
            veth.close();
            throw e;
        }
        return veth;
    }

    /** A command line run in the far end's namespace (or here when it has none). */
    List<String> inNamespace(String... command) {
        var line = new ArrayList<String>();
        if (namespace != null) {
            line.addAll(List.of("ip", "netns", "exec", namespace));
        }
        line.addAll(List.of(command));
        return line;
    }

    static String run(List<String> command) throws IOException {
        var process = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException(command + " did not finish in 30 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        String out = new String(process.getInputStream().readAllBytes());
        if (process.exitValue() != 0) {
            throw new IOException(command + " failed (" + process.exitValue() + "): " + out);
        }
        return out;
    }

    @Override
    public void close() {
        try {
            run(List.of("ip", "link", "del", here));
        } catch (IOException e) {
            // gone with its namespace, or never made
        }
        if (namespace != null) {
            try {
                run(List.of("ip", "netns", "del", namespace));
            } catch (IOException e) {
                // nothing left to remove
            }
        }
    }
}
