package fivenines.block.nbd;

import fivenines.block.export.BlockExport;
import fivenines.block.export.ExportResolver;

import java.io.IOException;
import java.net.Socket;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import static fivenines.block.nbd.NbdProtocol.*;

/** Option haggling of the fixed newstyle handshake, up to the export the client goes on with. */
final class NbdHandshake {
    static final int MAX_OPTION_LENGTH = 64 * 1024;
    private static final byte[] NOTHING = new byte[0];

    /** What the client and the server agreed on. */
    record Negotiated(BlockExport export, boolean structuredReplies, boolean allocationContext, NbdWire wire) {
    }

    private final NbdServer.Config config;
    private final ExportResolver exports;
    private final NbdInput input;
    private final boolean tcp;
    private NbdWire wire;
    private boolean tls;
    private boolean structured;
    private boolean allocationContext;

    /** @param tcp whether the client came over TCP (TLS is offered there only) */
    NbdHandshake(NbdServer.Config config, ExportResolver exports, NbdWire wire, NbdInput input, boolean tcp) {
        this.config = config;
        this.exports = exports;
        this.wire = wire;
        this.input = input;
        this.tcp = tcp;
    }

    /** The agreement, or null when the client aborted. Throws when the connection must end. */
    Negotiated negotiate() throws IOException {
        wire.write(ByteBuffer.allocate(18).putLong(NBDMAGIC).putLong(IHAVEOPT)
            .putShort((short) (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)).flip());
        int clientFlags = input.readInt();
        if ((clientFlags & FLAG_C_FIXED_NEWSTYLE) == 0 || (clientFlags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) != 0) {
            throw new IOException("client flags 0x" + Integer.toHexString(clientFlags) + " are not fixed newstyle");
        }
        boolean noZeroes = (clientFlags & FLAG_C_NO_ZEROES) != 0;
        while (true) {
            long magic = input.readLong();
            if (magic != IHAVEOPT) {
                throw new IOException("bad option magic 0x" + Long.toHexString(magic));
            }
            int option = input.readInt();
            int length = input.readInt();
            if (length < 0 || length > MAX_OPTION_LENGTH) {
                throw new IOException("option " + option + " of " + Integer.toUnsignedString(length) + " bytes is too long");
            }
            byte[] data = input.readBytes(length);
            if (tlsRequired() && option != OPT_STARTTLS && option != OPT_ABORT) {
                if (option == OPT_EXPORT_NAME) {
                    throw new IOException("EXPORT_NAME before the required TLS upgrade");
                }
                error(option, REP_ERR_TLS_REQD, "TLS is required on TCP: use STARTTLS with a certificate of the cluster,"
                    + " or the Unix socket on this host");
                continue;
            }
            switch (option) {
                case OPT_EXPORT_NAME -> {
                    return exportName(data, noZeroes);
                }
                case OPT_ABORT -> {
                    reply(option, REP_ACK, NOTHING);
                    return null;
                }
                case OPT_LIST -> list(option, data);
                case OPT_STARTTLS -> startTls(option, data);
                case OPT_INFO, OPT_GO -> {
                    BlockExport export = info(option, data);
                    if (export != null && option == OPT_GO) {
                        return new Negotiated(export, structured, allocationContext, wire);
                    }
                }
                case OPT_STRUCTURED_REPLY -> structuredReplies(option, data);
                case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> metaContext(option, data);
                default -> error(option, REP_ERR_UNSUP, "option " + option + " is not supported");
            }
        }
    }

    private boolean tlsRequired() {
        // forced TLS applies to loopback too: a TCP port on this host is open to every local user,
        // where the Unix socket is open to its owner only
        return config.tlsRequiredForTcp() && tcp && !tls;
    }

    private Negotiated exportName(byte[] data, boolean noZeroes) throws IOException {
        BlockExport export = resolve(new String(data, StandardCharsets.UTF_8));
        if (export == null) {
            // EXPORT_NAME cannot be answered with an error: the protocol says to hang up
            throw new IOException("unknown export requested by EXPORT_NAME");
        }
        var reply = ByteBuffer.allocate(noZeroes ? 10 : 134).putLong(export.size()).putShort((short) transmissionFlags(export));
        wire.write(reply.position(reply.capacity()).flip());
        return new Negotiated(export, structured, allocationContext, wire);
    }

    private void structuredReplies(int option, byte[] data) throws IOException {
        if (data.length != 0) {
            error(option, REP_ERR_INVALID, "STRUCTURED_REPLY takes no data");
        } else if (structured) {
            error(option, REP_ERR_INVALID, "structured replies are already on");
        } else {
            structured = true;
            reply(option, REP_ACK, NOTHING);
        }
    }

    private void list(int option, byte[] data) throws IOException {
        if (data.length != 0) {
            error(option, REP_ERR_INVALID, "LIST takes no data");
            return;
        }
        for (String name : exports.names()) {
            byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
            reply(option, REP_SERVER, ByteBuffer.allocate(4 + bytes.length).putInt(bytes.length).put(bytes).array());
        }
        reply(option, REP_ACK, NOTHING);
    }

    private void startTls(int option, byte[] data) throws IOException {
        if (data.length != 0) {
            error(option, REP_ERR_INVALID, "STARTTLS takes no data");
        } else if (tls) {
            error(option, REP_ERR_INVALID, "TLS is already on");
        } else if (config.tls() == null || !tcp || !(wire instanceof NbdWire.Plain(SocketChannel channel))) {
            error(option, REP_ERR_UNSUP, config.tls() == null ? "TLS is not configured" : "TLS is offered on TCP only");
        } else {
            reply(option, REP_ACK, NOTHING);
            Socket socket = channel.socket();
            var engine = config.tls().createSSLEngine(socket.getInetAddress().getHostAddress(), socket.getPort());
            engine.setUseClientMode(false);
            engine.setNeedClientAuth(config.clientCertificates());
            var secure = NbdWire.Tls.handshake(channel, engine);
            if (config.peerCheck() != null && !config.peerCheck().test(secure.session())) {
                secure.close();
                throw new IOException("the client's certificate is no longer accepted (its node was removed or its certificate replaced)");
            }
            wire = secure;
            input.switchTo(wire);
            tls = true;
        }
    }

    /** INFO and GO: the export's details; returns the export when the client may go on with it. */
    private BlockExport info(int option, byte[] data) throws IOException {
        var buffer = ByteBuffer.wrap(data);
        if (buffer.remaining() < 6) {
            error(option, REP_ERR_INVALID, "INFO/GO data too short");
            return null;
        }
        int nameLength = buffer.getInt();
        if (nameLength < 0 || nameLength > buffer.remaining() - 2) {
            error(option, REP_ERR_INVALID, "export name length " + nameLength + " does not fit");
            return null;
        }
        byte[] name = new byte[nameLength];
        buffer.get(name);
        int requests = Short.toUnsignedInt(buffer.getShort());
        if (buffer.remaining() != requests * 2) {
            error(option, REP_ERR_INVALID, "information request count does not match the data");
            return null;
        }
        Set<Integer> wanted = new LinkedHashSet<>();
        for (int i = 0; i < requests; i++) {
            wanted.add(Short.toUnsignedInt(buffer.getShort()));
        }
        String exportName = new String(name, StandardCharsets.UTF_8);
        BlockExport export = resolve(exportName);
        if (export == null) {
            error(option, REP_ERR_UNKNOWN, "no export named '" + exportName + "'");
            return null;
        }
        reply(option, REP_INFO, ByteBuffer.allocate(12).putShort((short) INFO_EXPORT).putLong(export.size())
            .putShort((short) transmissionFlags(export)).array());
        if (wanted.contains(INFO_NAME)) {
            byte[] bytes = export.name().getBytes(StandardCharsets.UTF_8);
            reply(option, REP_INFO, ByteBuffer.allocate(2 + bytes.length).putShort((short) INFO_NAME).put(bytes).array());
        }
        if (wanted.contains(INFO_DESCRIPTION) && !export.description().isEmpty()) {
            byte[] bytes = export.description().getBytes(StandardCharsets.UTF_8);
            reply(option, REP_INFO, ByteBuffer.allocate(2 + bytes.length).putShort((short) INFO_DESCRIPTION).put(bytes).array());
        }
        reply(option, REP_INFO, ByteBuffer.allocate(14).putShort((short) INFO_BLOCK_SIZE)
            .putInt(export.minimumBlockSize()).putInt(export.preferredBlockSize())
            .putInt(maximumBlockSize(config, export)).array());
        reply(option, REP_ACK, NOTHING);
        return export;
    }

    static int maximumBlockSize(NbdServer.Config config, BlockExport export) {
        return Math.min(config.maxPayload(), export.maximumBlockSize());
    }

    /** The empty name means the only export, when there is exactly one. */
    private BlockExport resolve(String name) {
        if (name.isEmpty()) {
            List<String> names = exports.names();
            return names.size() == 1 ? exports.resolve(names.getFirst()) : exports.resolve("");
        }
        return exports.resolve(name);
    }

    private void metaContext(int option, byte[] data) throws IOException {
        if (option == OPT_SET_META_CONTEXT && !structured) {
            error(option, REP_ERR_INVALID, "SET_META_CONTEXT needs structured replies first");
            return;
        }
        var buffer = ByteBuffer.wrap(data);
        try {
            if (resolve(new String(lengthPrefixed(buffer), StandardCharsets.UTF_8)) == null) {
                error(option, REP_ERR_UNKNOWN, "no such export");
                return;
            }
            int queries = buffer.getInt();
            var matches = new ArrayList<String>();
            if (queries == 0 && option == OPT_LIST_META_CONTEXT) {
                matches.add(BASE_ALLOCATION);
            }
            for (int i = 0; i < queries; i++) {
                String query = new String(lengthPrefixed(buffer), StandardCharsets.UTF_8);
                if (query.equals(BASE_ALLOCATION) || (option == OPT_LIST_META_CONTEXT && query.equals("base:"))) {
                    matches.add(BASE_ALLOCATION);
                }
            }
            if (buffer.hasRemaining()) {
                throw new BufferUnderflowException();
            }
            if (option == OPT_SET_META_CONTEXT) {
                allocationContext = !matches.isEmpty();
            }
            for (String match : matches.stream().distinct().toList()) {
                byte[] bytes = match.getBytes(StandardCharsets.UTF_8);
                reply(option, REP_META_CONTEXT, ByteBuffer.allocate(4 + bytes.length).putInt(BASE_ALLOCATION_ID).put(bytes).array());
            }
            reply(option, REP_ACK, NOTHING);
        } catch (BufferUnderflowException e) {
            error(option, REP_ERR_INVALID, "meta context request is malformed");
        }
    }

    private static byte[] lengthPrefixed(ByteBuffer buffer) {
        int length = buffer.getInt();
        if (length < 0 || length > buffer.remaining()) {
            throw new BufferUnderflowException();
        }
        byte[] bytes = new byte[length];
        buffer.get(bytes);
        return bytes;
    }

    private int transmissionFlags(BlockExport export) {
        int flags = TRANSMISSION_HAS_FLAGS | TRANSMISSION_SEND_FLUSH | TRANSMISSION_SEND_FUA | TRANSMISSION_SEND_CACHE;
        if (export.readOnly()) {
            flags |= TRANSMISSION_READ_ONLY;
        } else {
            flags |= TRANSMISSION_SEND_TRIM | TRANSMISSION_SEND_WRITE_ZEROES;
            if (export.fastZero()) {
                flags |= TRANSMISSION_SEND_FAST_ZERO;
            }
        }
        if (structured) {
            flags |= TRANSMISSION_SEND_DF;
        }
        if (export.canMultiConn()) {
            flags |= TRANSMISSION_CAN_MULTI_CONN;
        }
        return flags;
    }

    private void reply(int option, int type, byte[] data) throws IOException {
        wire.write(ByteBuffer.allocate(20 + data.length).putLong(OPTION_REPLY_MAGIC).putInt(option).putInt(type)
            .putInt(data.length).put(data).flip());
    }

    private void error(int option, int type, String message) throws IOException {
        reply(option, type, message.getBytes(StandardCharsets.UTF_8));
    }
}
