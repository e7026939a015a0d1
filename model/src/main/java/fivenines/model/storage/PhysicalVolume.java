package fivenines.model.storage;

/**
 * Space a node offers to the cluster: a file or block device with a fivenines label,
 * exported by that node's block service.
 *
 * @param id          the label's UUID
 * @param node        the node that holds it
 * @param path        its path on that node
 * @param size        bytes of its data area (after the label)
 * @param extentSize  bytes per extent, a power of two
 * @param nbdAddress  HOST:PORT of the node's NBD server
 * @param nbdSocket   the node's NBD Unix socket
 * @param createdAt   log index of its creation
 */
public record PhysicalVolume(String id, String node, String path, long size, long extentSize,
                             String nbdAddress, String nbdSocket, long createdAt) {

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
