package fivenines.vm.qemu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** How QEMU runs guest code. */
public enum Accelerator {
    /** Hardware virtualisation through /dev/kvm. */
    KVM,
    /** QEMU's software translator: slow, but works everywhere. */
    TCG;

    private static volatile Accelerator detected;

    String qemuName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * KVM when it can work here, else TCG; {@code NINES_ACCEL=kvm|tcg} overrides. A readable
     * /dev/kvm is not enough: in some sandboxes it opens and QEMU starts, but the guest
     * hangs on entering protected mode. KVM needs the CPU's vmx or svm flag, so without
     * one of them in /proc/cpuinfo, TCG it is.
     */
    public static Accelerator detect() {
        Accelerator known = detected;
        if (known != null) {
            return known;
        }
        String forced = System.getenv("NINES_ACCEL");
        if (forced != null && !forced.isBlank() && !forced.equalsIgnoreCase("auto")) {
            known = valueOf(forced.trim().toUpperCase(Locale.ROOT));
        } else {
            known = kvmUsable() ? KVM : TCG;
        }
        detected = known;
        return known;
    }

    private static boolean kvmUsable() {
        Path kvm = Path.of("/dev/kvm");
        if (!Files.isReadable(kvm) || !Files.isWritable(kvm)) {
            return false;
        }
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags") && (line.contains(" vmx") || line.contains(" svm"))) {
                    return true;
                }
            }
        } catch (IOException unreadable) {
            return false;
        }
        return false;
    }
}
