package fivenines.vm.qemu;

import java.util.regex.Pattern;

/**
 * A network card (virtio-net).
 *
 * @param mac its MAC address, {@code 52:54:00:12:34:56}
 * @param network what it is plugged into
 */
public record NicSpec(String mac, Network network) {
    private static final Pattern MAC = Pattern.compile("(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}");

    public NicSpec {
        if (mac == null || !MAC.matcher(mac).matches()) {
            throw new IllegalArgumentException("not a MAC address: " + mac);
        }
        network = network == null ? new Network.User() : network;
    }

    /** What a NIC is plugged into. */
    public sealed interface Network {
        /** QEMU's user-mode NAT: no host setup, outbound only. */
        record User() implements Network {
        }

        /** An existing tap device. */
        record Tap(String device) implements Network {
        }

        /** A host bridge, joined through qemu-bridge-helper. */
        record Bridge(String bridge) implements Network {
        }
    }
}
