package fivenines.vm.qemu;

import java.nio.file.Path;

/** Where a disk's bytes come from. */
public sealed interface DiskSource {

    /** An NBD export served on a Unix socket, as the volume engine serves a logical volume. */
    record NbdUnix(Path socket, String exportName) implements DiskSource {
        public NbdUnix {
            if (socket == null) {
                throw new IllegalArgumentException("NBD disk without a socket path");
            }
            exportName = exportName == null ? "" : exportName;
        }
    }

    /** An NBD export on TCP. */
    record NbdTcp(String host, int port, String exportName) implements DiskSource {
        public NbdTcp {
            if (host == null || host.isBlank() || port < 1 || port > 65535) {
                throw new IllegalArgumentException("NBD disk needs a host and a port 1..65535: " + host + ":" + port);
            }
            exportName = exportName == null ? "" : exportName;
        }
    }

    /** An image file on the local file system. */
    record File(Path path, ImageFormat format) implements DiskSource {
        public File {
            if (path == null) {
                throw new IllegalArgumentException("file disk without a path");
            }
            format = format == null ? ImageFormat.RAW : format;
        }
    }
}
