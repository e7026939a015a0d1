package fivenines.vm.qemu;

/** How a migration destination waits for the incoming VM state ({@code -incoming}). */
public sealed interface IncomingMigration {

    /** Listen on a TCP address from the start. */
    record Tcp(String host, int port) implements IncomingMigration {
        public Tcp {
            if (host == null || host.isBlank() || port < 1 || port > 65535) {
                throw new IllegalArgumentException("incoming migration needs a host and a port 1..65535: " + host + ":" + port);
            }
        }

        public String uri() {
            return "tcp:" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
        }
    }

    /** Wait for QMP {@code migrate-incoming}, so capabilities can be set first. */
    record Deferred() implements IncomingMigration {
    }
}
