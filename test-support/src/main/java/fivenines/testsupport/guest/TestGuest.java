package fivenines.testsupport.guest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The guest that tests boot: a Debian cloud kernel and a busybox initramfs whose /init
 * prints {@code NINES-GUEST up} on the serial console and, with {@code nines.workload=write}
 * on the kernel command line, runs the write workload that {@link WorkloadVerifier} checks.
 *
 * @param kernel the kernel image, for QEMU's {@code -kernel}
 * @param initrd the gzip'd cpio initramfs, for QEMU's {@code -initrd}
 */
public record TestGuest(Path kernel, Path initrd) {

    /** The line /init prints once its modules are loaded. */
    public static final String UP_LINE = "NINES-GUEST up";

    /**
     * Builds the guest from Debian packages, or returns the cached build when its inputs
     * (kernel and busybox package versions, /init, module list) are unchanged. Safe when
     * several JVMs build at once.
     */
    public static TestGuest build() throws IOException, InterruptedException {
        return GuestBuilder.buildCached(cacheDirectory());
    }

    /** {@code ${NINES_CACHE:-$HOME/.cache/fivenines}/guest}. */
    public static Path cacheDirectory() {
        String cache = System.getenv("NINES_CACHE");
        Path root = cache != null && !cache.isBlank()
                ? Path.of(cache)
                : Path.of(System.getProperty("user.home"), ".cache", "fivenines");
        return root.resolve("guest");
    }

    /** A kernel command line with the serial console and the given extra words. */
    public static String commandLine(String... extra) {
        var words = new java.util.ArrayList<>(List.of("console=ttyS0", "quiet", "panic=-1"));
        words.addAll(List.of(extra));
        return String.join(" ", words);
    }

    /** The command line that runs the write workload on /dev/vda. */
    public static String writeWorkloadCommandLine() {
        return commandLine("nines.workload=write");
    }

    public TestGuest {
        if (!Files.isRegularFile(kernel) || !Files.isRegularFile(initrd)) {
            throw new IllegalArgumentException("test guest files missing: " + kernel + ", " + initrd);
        }
    }
}
