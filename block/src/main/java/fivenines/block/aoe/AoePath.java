package fivenines.block.aoe;

/**
 * How a physical volume on a remote AoE device is named in the store: {@code aoe:eSHELF.SLOT@IF},
 * the target's address and the interface of the PV's node that reaches it (as its path, in
 * place of a file's).
 */
public record AoePath(int shelf, int slot, String interfaceName) {
    public static final String PREFIX = "aoe:";

    public AoePath {
        if (shelf < 0 || shelf >= AoeProtocol.BROADCAST_SHELF) {
            throw new IllegalArgumentException("shelf " + shelf + " is outside 0..65534");
        }
        if (slot < 0 || slot >= AoeProtocol.BROADCAST_SLOT) {
            throw new IllegalArgumentException("slot " + slot + " is outside 0..254");
        }
        if (interfaceName == null || !interfaceName.matches("[A-Za-z0-9_.-]{1,15}") || interfaceName.equals(".")
            || interfaceName.equals("..")) {
            throw new IllegalArgumentException("'" + interfaceName + "' is not a network interface name");
        }
    }

    public static boolean isAoe(String path) {
        return path != null && path.startsWith(PREFIX);
    }

    /** {@code aoe:e4.1@eth1}. */
    public static AoePath parse(String path) {
        return parse(path, null);
    }

    /**
     * {@code aoe:e4.1} with the interface given apart, or {@code aoe:e4.1@eth1}; both is fine when
     * they agree.
     */
    public static AoePath parse(String path, String interfaceName) {
        if (!isAoe(path)) {
            throw new IllegalArgumentException("'" + path + "' is not an AoE device; write aoe:eSHELF.SLOT, e.g. aoe:e4.1");
        }
        String rest = path.substring(PREFIX.length());
        String named = null;
        int at = rest.indexOf('@');
        if (at >= 0) {
            named = rest.substring(at + 1);
            rest = rest.substring(0, at);
        }
        if (named != null && interfaceName != null && !interfaceName.isEmpty() && !named.equals(interfaceName)) {
            throw new IllegalArgumentException("'" + path + "' names interface " + named + " but --interface says " + interfaceName);
        }
        String iface = named != null ? named : interfaceName;
        if (iface == null || iface.isEmpty()) {
            throw new IllegalArgumentException("an AoE physical volume needs the interface that reaches it: "
                + path + " --interface IF");
        }
        if (!rest.startsWith("e")) {
            throw new IllegalArgumentException("'" + path + "' is not an AoE device; write aoe:eSHELF.SLOT, e.g. aoe:e4.1");
        }
        int[] address;
        try {
            address = AoeExports.parseAddress(rest);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + path + "' is not an AoE device; write aoe:eSHELF.SLOT, e.g. aoe:e4.1");
        }
        return new AoePath(address[0], address[1], iface);
    }

    /** {@code e4.1}. */
    public String target() {
        return "e" + shelf + "." + slot;
    }

    @Override
    public String toString() {
        return PREFIX + target() + "@" + interfaceName;
    }
}
