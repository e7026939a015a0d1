package fivenines.model.storage;

import java.util.List;

/**
 * A logical volume served by a node's volume engine.
 *
 * @param node       the node serving it
 * @param shared     whether other attachments may exist at the same time (live migration)
 * @param attachedAt log index of the attach
 * @param reserved   chunks handed to this attachment for first writes and not yet mapped;
 *                   counted as used, returned when the attachment ends
 * @param nbdAddress HOST:PORT where the node serves it over NBD (export name VG/LV), or null
 * @param nbdSocket  the node's NBD Unix socket, or null
 */
public record Attachment(String node, boolean shared, long attachedAt, List<ChunkRef> reserved, String nbdAddress,
                         String nbdSocket) {
    public Attachment {
        reserved = List.copyOf(reserved);
    }

    public Attachment withReserved(List<ChunkRef> chunks) {
        return new Attachment(node, shared, attachedAt, chunks, nbdAddress, nbdSocket);
    }

    public Attachment withShared(boolean value) {
        return new Attachment(node, value, attachedAt, reserved, nbdAddress, nbdSocket);
    }

    /** {@code nbd://HOST:PORT/VG/LV}, or null. */
    public String nbdUri(String volume) {
        return nbdAddress == null ? null : "nbd://" + nbdAddress + "/" + volume;
    }

    /** {@code nbd+unix:///VG/LV?socket=PATH}, or null. */
    public String nbdUnixUri(String volume) {
        return nbdSocket == null ? null : "nbd+unix:///" + volume + "?socket=" + nbdSocket;
    }
}
