package fivenines.model.storage;

/**
 * Space a node offers to the cluster: a file or block device with a fivenines label, or a
 * remote AoE device labelled alike and reached by that node, exported by that node's block service.
 *
 * @param id          the label's UUID
 * @param node        the node that holds it
 * @param path        its path on that node, or for an AoE device {@code aoe:eSHELF.SLOT@IF}
 *                    (the target and the node's interface that reaches it)
 * @param size        bytes of its data area (after the label)
 * @param extentSize  bytes per extent, a power of two
 * @param nbdAddress  HOST:PORT of the node's NBD server
 * @param nbdSocket   the node's NBD Unix socket
 * @param createdAt   log index of its creation
 */
public record PhysicalVolume(String id, String node, String path, long size, long extentSize,
                             String nbdAddress, String nbdSocket, long createdAt) {

    public static final String AOE_PREFIX = "aoe:";
    private static final java.util.regex.Pattern AOE_PATH =
        java.util.regex.Pattern.compile("aoe:e(\\d{1,5})\\.(\\d{1,3})@[A-Za-z0-9_.-]{1,15}");

    /** Whether {@code path} names an AoE device: {@code aoe:eSHELF.SLOT@IF}, shelf 0..65534, slot 0..254. */
    public static boolean isAoePath(String path) {
        var m = path == null ? null : AOE_PATH.matcher(path);
        if (m == null || !m.matches()) {
            return false;
        }
        String iface = path.substring(path.indexOf('@') + 1);
        return Integer.parseInt(m.group(1)) < 0xFFFF && Integer.parseInt(m.group(2)) < 0xFF && !iface.equals(".")
            && !iface.equals("..");
    }

    /** {@code aoe} for a remote AoE device, {@code local} for a file or block device of the node. */
    public String transport() {
        return path.startsWith(AOE_PREFIX) ? "aoe" : "local";
    }

    /** How operators name it: {@code node:path}, as in {@code vg create vg node0:/dev/md3}. */
    public String displayName() {
        return node + ":" + path;
    }

    public long extents() {
        return size / extentSize;
    }

    /** The NBD export name under which its node serves it. */
    public String exportName() {
        return "pv-" + id;
    }

    public String nbdUri() {
        return "nbd://" + nbdAddress + "/" + exportName();
    }

    public String nbdUnixUri() {
        return "nbd+unix:///" + exportName() + "?socket=" + nbdSocket;
    }
}
