package fivenines.vm.qemu;

import java.nio.file.Path;

/** How a guest boots. */
public sealed interface Boot {

    /** A kernel and initrd given to QEMU directly, with a kernel command line. */
    record Kernel(Path kernel, Path initrd, String commandLine) implements Boot {
        public Kernel {
            if (kernel == null) {
                throw new IllegalArgumentException("kernel boot needs a kernel image");
            }
            commandLine = commandLine == null ? "" : commandLine;
        }
    }

    /** The firmware boots the first disk. */
    record FromDisk() implements Boot {
    }
}
