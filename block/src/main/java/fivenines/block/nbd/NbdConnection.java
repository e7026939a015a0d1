package fivenines.block.nbd;

import fivenines.block.export.BlockExport;
import fivenines.block.export.ExportRegistry;
import fivenines.block.export.Extent;

import javax.net.ssl.SSLSocket;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Phaser;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.ReentrantLock;

import static fivenines.block.nbd.NbdProtocol.*;

/** One client: option haggling, then transmission with requests served concurrently. */
final class NbdConnection {
    private static final int MAX_OPTION_LENGTH = 64 * 1024;
    private static final int MAX_IN_FLIGHT = 64;
    private static final int HOLE_SCAN_MINIMUM = 64 * 1024;

    record Transport(InputStream in, OutputStream out, Socket socket) {
    }

    private final NbdServer.Config config;
    private final ExportRegistry exports;
    private final boolean local;
    private final String peer;
    private DataInputStream in;
    private DataOutputStream out;
    private Socket socket;
    private final ReentrantLock writeLock = new ReentrantLock();
    private boolean tls;
    private boolean noZeroes;
    private boolean structured;
    private boolean allocationContext;

    NbdConnection(NbdServer.Config config, ExportRegistry exports, Transport transport, boolean local, String peer) {
        this.config = config;
        this.exports = exports;
        this.local = local;
        this.peer = peer;
        this.socket = transport.socket();
        useStreams(transport.in(), transport.out());
    }

    private void useStreams(InputStream input, OutputStream output) {
        in = new DataInputStream(new BufferedInputStream(input, 128 * 1024));
        out = new DataOutputStream(new BufferedOutputStream(output, 128 * 1024));
    }

    void run() throws IOException {
        BlockExport export = handshake();
        if (export != null) {
            transmit(export);
        }
    }

    // ---- handshake -------------------------------------------------------------------

    private BlockExport handshake() throws IOException {
        out.writeLong(NBDMAGIC);
        out.writeLong(IHAVEOPT);
        out.writeShort(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
        out.flush();
        int clientFlags = in.readInt();
        if ((clientFlags & FLAG_C_FIXED_NEWSTYLE) == 0 || (clientFlags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) != 0) {
            throw new IOException("client flags 0x" + Integer.toHexString(clientFlags) + " are not fixed newstyle");
        }
        noZeroes = (clientFlags & FLAG_C_NO_ZEROES) != 0;
        while (true) {
            long magic = in.readLong();
            if (magic != IHAVEOPT) {
                throw new IOException("bad option magic 0x" + Long.toHexString(magic));
            }
            int option = in.readInt();
            int length = in.readInt();
            if (length < 0 || length > MAX_OPTION_LENGTH) {
                throw new IOException("option " + option + " of " + Integer.toUnsignedString(length) + " bytes is too long");
            }
            byte[] data = in.readNBytes(length);
            if (data.length != length) {
                throw new EOFException("client left during option " + option);
            }
            if (tlsRequired() && option != OPT_STARTTLS && option != OPT_ABORT) {
                if (option == OPT_EXPORT_NAME) {
                    throw new IOException("EXPORT_NAME before the required TLS upgrade");
                }
                optionError(option, REP_ERR_TLS_REQD, "TLS is required for clients on other hosts: use STARTTLS");
                continue;
            }
            switch (option) {
                case OPT_EXPORT_NAME -> {
                    BlockExport export = exports.find(new String(data, StandardCharsets.UTF_8)).orElse(null);
                    if (export == null) {
                        throw new IOException("unknown export requested by EXPORT_NAME");
                    }
                    out.writeLong(export.size());
                    out.writeShort(transmissionFlags(export));
                    if (!noZeroes) {
                        out.write(new byte[124]);
                    }
                    out.flush();
                    return export;
                }
                case OPT_ABORT -> {
                    optionReply(option, REP_ACK, new byte[0]);
                    return null;
                }
                case OPT_LIST -> list(option, data);
                case OPT_STARTTLS -> startTls(option, data);
                case OPT_INFO, OPT_GO -> {
                    BlockExport export = info(option, data);
                    if (export != null && option == OPT_GO) {
                        return export;
                    }
                }
                case OPT_STRUCTURED_REPLY -> {
                    if (data.length != 0) {
                        optionError(option, REP_ERR_INVALID, "STRUCTURED_REPLY takes no data");
                    } else if (structured) {
                        optionError(option, REP_ERR_INVALID, "structured replies are already on");
                    } else {
                        structured = true;
                        optionReply(option, REP_ACK, new byte[0]);
                    }
                }
                case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> metaContext(option, data);
                default -> optionError(option, REP_ERR_UNSUP, "option " + option + " is not supported");
            }
        }
    }

    private boolean tlsRequired() {
        return config.tlsRequiredForRemote() && !local && !tls;
    }

    private void list(int option, byte[] data) throws IOException {
        if (data.length != 0) {
            optionError(option, REP_ERR_INVALID, "LIST takes no data");
            return;
        }
        for (String name : exports.names()) {
            byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
            optionReply(option, REP_SERVER, ByteBuffer.allocate(4 + bytes.length).putInt(bytes.length).put(bytes).array());
        }
        optionReply(option, REP_ACK, new byte[0]);
    }

    private void startTls(int option, byte[] data) throws IOException {
        if (data.length != 0) {
            optionError(option, REP_ERR_INVALID, "STARTTLS takes no data");
        } else if (tls) {
            optionError(option, REP_ERR_INVALID, "TLS is already on");
        } else if (config.tls() == null || socket == null) {
            optionError(option, REP_ERR_UNSUP, socket == null ? "TLS is not offered on the Unix socket" : "TLS is not configured");
        } else {
            optionReply(option, REP_ACK, new byte[0]);
            SSLSocket secure = (SSLSocket) config.tls().getSocketFactory().createSocket(socket,
                socket.getInetAddress().getHostAddress(), socket.getPort(), true);
            secure.setUseClientMode(false);
            secure.startHandshake();
            socket = secure;
            useStreams(secure.getInputStream(), secure.getOutputStream());
            tls = true;
        }
    }

    /** INFO and GO: answers the export's details; returns it when the client may go on. */
    private BlockExport info(int option, byte[] data) throws IOException {
        var buffer = ByteBuffer.wrap(data);
        if (buffer.remaining() < 6) {
            optionError(option, REP_ERR_INVALID, "INFO/GO data too short");
            return null;
        }
        int nameLength = buffer.getInt();
        if (nameLength < 0 || nameLength > buffer.remaining() - 2) {
            optionError(option, REP_ERR_INVALID, "export name length " + nameLength + " does not fit");
            return null;
        }
        byte[] name = new byte[nameLength];
        buffer.get(name);
        int requests = Short.toUnsignedInt(buffer.getShort());
        if (buffer.remaining() != requests * 2) {
            optionError(option, REP_ERR_INVALID, "information request count does not match the data");
            return null;
        }
        var wanted = new ArrayList<Integer>();
        for (int i = 0; i < requests; i++) {
            wanted.add(Short.toUnsignedInt(buffer.getShort()));
        }
        String exportName = new String(name, StandardCharsets.UTF_8);
        BlockExport export = resolve(exportName);
        if (export == null) {
            optionError(option, REP_ERR_UNKNOWN, "no export named '" + exportName + "'");
            return null;
        }
        optionReply(option, REP_INFO, ByteBuffer.allocate(12).putShort((short) INFO_EXPORT).putLong(export.size())
            .putShort((short) transmissionFlags(export)).array());
        if (wanted.contains(INFO_NAME)) {
            byte[] bytes = export.name().getBytes(StandardCharsets.UTF_8);
            optionReply(option, REP_INFO, ByteBuffer.allocate(2 + bytes.length).putShort((short) INFO_NAME).put(bytes).array());
        }
        if (wanted.contains(INFO_DESCRIPTION) && !export.description().isEmpty()) {
            byte[] bytes = export.description().getBytes(StandardCharsets.UTF_8);
            optionReply(option, REP_INFO, ByteBuffer.allocate(2 + bytes.length).putShort((short) INFO_DESCRIPTION).put(bytes).array());
        }
        optionReply(option, REP_INFO, ByteBuffer.allocate(14).putShort((short) INFO_BLOCK_SIZE).putInt(1).putInt(4096)
            .putInt(config.maxPayload()).array());
        optionReply(option, REP_ACK, new byte[0]);
        return export;
    }

    private BlockExport resolve(String name) {
        if (name.isEmpty()) {
            List<String> names = exports.names();
            return names.size() == 1 ? exports.find(names.getFirst()).orElse(null) : null;
        }
        return exports.find(name).orElse(null);
    }

    private void metaContext(int option, byte[] data) throws IOException {
        if (option == OPT_SET_META_CONTEXT && !structured) {
            optionError(option, REP_ERR_INVALID, "SET_META_CONTEXT needs structured replies first");
            return;
        }
        var buffer = ByteBuffer.wrap(data);
        try {
            int nameLength = buffer.getInt();
            if (nameLength < 0 || nameLength > buffer.remaining()) {
                throw new java.nio.BufferUnderflowException();
            }
            byte[] name = new byte[nameLength];
            buffer.get(name);
            if (resolve(new String(name, StandardCharsets.UTF_8)) == null) {
                optionError(option, REP_ERR_UNKNOWN, "no such export");
                return;
            }
            int queries = buffer.getInt();
            var matches = new ArrayList<String>();
            if (queries == 0 && option == OPT_LIST_META_CONTEXT) {
                matches.add(BASE_ALLOCATION);
            }
            for (int i = 0; i < queries; i++) {
                int length = buffer.getInt();
                if (length < 0 || length > buffer.remaining()) {
                    throw new java.nio.BufferUnderflowException();
                }
                byte[] query = new byte[length];
                buffer.get(query);
                String text = new String(query, StandardCharsets.UTF_8);
                if (text.equals(BASE_ALLOCATION) || (option == OPT_LIST_META_CONTEXT && text.equals("base:"))) {
                    matches.add(BASE_ALLOCATION);
                }
            }
            if (buffer.hasRemaining()) {
                throw new java.nio.BufferUnderflowException();
            }
            if (option == OPT_SET_META_CONTEXT) {
                allocationContext = !matches.isEmpty();
            }
            for (String match : matches.stream().distinct().toList()) {
                byte[] bytes = match.getBytes(StandardCharsets.UTF_8);
                optionReply(option, REP_META_CONTEXT, ByteBuffer.allocate(4 + bytes.length).putInt(BASE_ALLOCATION_ID).put(bytes).array());
            }
            optionReply(option, REP_ACK, new byte[0]);
        } catch (java.nio.BufferUnderflowException e) {
            optionError(option, REP_ERR_INVALID, "meta context request is malformed");
        }
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

    private void optionReply(int option, int type, byte[] data) throws IOException {
        out.writeLong(OPTION_REPLY_MAGIC);
        out.writeInt(option);
        out.writeInt(type);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    private void optionError(int option, int type, String message) throws IOException {
        optionReply(option, type, message.getBytes(StandardCharsets.UTF_8));
    }

    // ---- transmission ----------------------------------------------------------------

    private void transmit(BlockExport export) throws IOException {
        var inFlight = new Semaphore(MAX_IN_FLIGHT);
        var pending = new Phaser(1);
        try {
            while (true) {
                int magic = in.readInt();
                if (magic != REQUEST_MAGIC) {
                    throw new IOException("bad request magic 0x" + Integer.toHexString(magic));
                }
                int flags = Short.toUnsignedInt(in.readShort());
                int type = Short.toUnsignedInt(in.readShort());
                long cookie = in.readLong();
                long offset = in.readLong();
                long length = Integer.toUnsignedLong(in.readInt());
                if (type == CMD_DISC) {
                    return;
                }
                ByteBuffer payload = null;
                if (type == CMD_WRITE) {
                    if (length > config.maxPayload()) {
                        throw new IOException("WRITE of " + length + " bytes is over the " + config.maxPayload()
                            + "-byte limit; closing the connection");
                    }
                    byte[] bytes = new byte[(int) length];
                    in.readFully(bytes);
                    payload = ByteBuffer.wrap(bytes);
                }
                var request = new Request(flags, type, cookie, offset, length, payload);
                if (inFlight.availablePermits() == MAX_IN_FLIGHT && in.available() == 0) {
                    // nothing else in flight and nothing queued behind it: serve it here, sparing a thread hand-off
                    serve(export, request);
                    continue;
                }
                inFlight.acquireUninterruptibly();
                pending.register();
                Thread.ofVirtual().name("nbd-request").start(() -> {
                    try {
                        serve(export, request);
                    } catch (IOException e) {
                        closeQuietly();
                    } finally {
                        pending.arriveAndDeregister();
                        inFlight.release();
                    }
                });
            }
        } finally {
            pending.arriveAndAwaitAdvance();
        }
    }

    private record Request(int flags, int type, long cookie, long offset, long length, ByteBuffer payload) {
        boolean fua() {
            return (flags & CMD_FLAG_FUA) != 0;
        }
    }

    private void serve(BlockExport export, Request request) throws IOException {
        try {
            switch (request.type()) {
                case CMD_READ -> read(export, request);
                case CMD_WRITE -> {
                    checkWritable(export, request);
                    export.write(request.offset(), request.payload(), request.fua());
                    simpleReply(request.cookie(), 0, null);
                }
                case CMD_FLUSH -> {
                    export.flush();
                    simpleReply(request.cookie(), 0, null);
                }
                case CMD_TRIM -> {
                    checkWritable(export, request);
                    export.trim(request.offset(), request.length());
                    if (request.fua()) {
                        export.flush();
                    }
                    simpleReply(request.cookie(), 0, null);
                }
                case CMD_WRITE_ZEROES -> {
                    checkWritable(export, request);
                    boolean noHole = (request.flags() & CMD_FLAG_NO_HOLE) != 0;
                    if ((request.flags() & CMD_FLAG_FAST_ZERO) != 0 && (noHole || !export.fastZero())) {
                        throw new NbdErrorException(ENOTSUP, "zeroing here would be slow");
                    }
                    export.writeZeroes(request.offset(), request.length(), noHole, request.fua());
                    simpleReply(request.cookie(), 0, null);
                }
                case CMD_CACHE -> {
                    checkRange(export, request, EINVAL);
                    simpleReply(request.cookie(), 0, null);
                }
                case CMD_BLOCK_STATUS -> blockStatus(export, request);
                default -> throw new NbdErrorException(EINVAL, "unknown command " + request.type());
            }
        } catch (NbdErrorException e) {
            error(request, e.errno(), e.getMessage());
        } catch (IOException e) {
            error(request, EIO, e.getMessage() == null ? "I/O error" : e.getMessage());
        }
    }

    private void checkWritable(BlockExport export, Request request) throws NbdErrorException {
        if (export.readOnly()) {
            throw new NbdErrorException(EPERM, "the export is read-only");
        }
        checkRange(export, request, ENOSPC);
    }

    private static void checkRange(BlockExport export, Request request, int pastEndErrno) throws NbdErrorException {
        if (request.length() == 0) {
            throw new NbdErrorException(EINVAL, "zero-length request");
        }
        if (request.offset() < 0 || request.offset() > export.size() || request.length() > export.size() - request.offset()) {
            throw new NbdErrorException(pastEndErrno, "request beyond the end of the export");
        }
    }

    private void read(BlockExport export, Request request) throws IOException {
        checkRange(export, request, EINVAL);
        if (request.length() > config.maxPayload()) {
            throw new NbdErrorException(EOVERFLOW, "READ over the " + config.maxPayload() + "-byte limit");
        }
        boolean oneChunk = !structured || (request.flags() & CMD_FLAG_DF) != 0 || request.length() < HOLE_SCAN_MINIMUM;
        if (oneChunk) {
            var data = ByteBuffer.allocate((int) request.length());
            export.read(request.offset(), data);
            data.flip();
            if (structured) {
                dataChunk(request.cookie(), request.offset(), data, true);
            } else {
                simpleReply(request.cookie(), 0, data);
            }
            return;
        }
        // structured read: holes go as OFFSET_HOLE chunks, data as OFFSET_DATA
        List<Extent> extents = export.blockStatus(request.offset(), request.length());
        long position = request.offset();
        long end = request.offset() + request.length();
        var chunks = new ArrayList<long[]>();
        for (Extent extent : extents) {
            if (position >= end) {
                break;
            }
            long length = Math.min(extent.length(), end - position);
            chunks.add(new long[]{position, length, extent.zero() ? 1 : 0});
            position += length;
        }
        if (position < end) {
            chunks.add(new long[]{position, end - position, 0});
        }
        for (int i = 0; i < chunks.size(); i++) {
            long[] chunk = chunks.get(i);
            boolean last = i == chunks.size() - 1;
            if (chunk[2] == 1) {
                holeChunk(request.cookie(), chunk[0], chunk[1], last);
            } else {
                var data = ByteBuffer.allocate((int) chunk[1]);
                export.read(chunk[0], data);
                dataChunk(request.cookie(), chunk[0], data.flip(), last);
            }
        }
    }

    private void blockStatus(BlockExport export, Request request) throws IOException {
        if (!structured || !allocationContext) {
            throw new NbdErrorException(EINVAL, "BLOCK_STATUS needs structured replies and the base:allocation context");
        }
        checkRange(export, request, EINVAL);
        List<Extent> extents = export.blockStatus(request.offset(), request.length());
        if ((request.flags() & CMD_FLAG_REQ_ONE) != 0 && extents.size() > 1) {
            extents = extents.subList(0, 1);
        }
        var descriptors = new ArrayList<long[]>();
        for (Extent extent : extents) {
            long remaining = extent.length();
            while (remaining > 0 && descriptors.size() < 1024) {
                long piece = Math.min(remaining, 0xFFFF_F000L);
                descriptors.add(new long[]{piece, extent.flags()});
                remaining -= piece;
            }
        }
        var payload = ByteBuffer.allocate(4 + descriptors.size() * 8).putInt(BASE_ALLOCATION_ID);
        for (long[] d : descriptors) {
            payload.putInt((int) d[0]).putInt((int) d[1]);
        }
        chunk(request.cookie(), REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, payload.flip());
    }

    private void error(Request request, int errno, String message) throws IOException {
        if (structured && (request.type() == CMD_READ || request.type() == CMD_BLOCK_STATUS)) {
            byte[] text = message.getBytes(StandardCharsets.UTF_8);
            int textLength = Math.min(text.length, 4096);
            var payload = ByteBuffer.allocate(6 + textLength).putInt(errno).putShort((short) textLength).put(text, 0, textLength);
            chunk(request.cookie(), REPLY_FLAG_DONE, REPLY_TYPE_ERROR, payload.flip());
        } else {
            simpleReply(request.cookie(), errno, null);
        }
    }

    private void simpleReply(long cookie, int errno, ByteBuffer data) throws IOException {
        writeLock.lock();
        try {
            out.writeInt(SIMPLE_REPLY_MAGIC);
            out.writeInt(errno);
            out.writeLong(cookie);
            if (data != null) {
                out.write(data.array(), data.arrayOffset() + data.position(), data.remaining());
            }
            out.flush();
        } finally {
            writeLock.unlock();
        }
    }

    private void dataChunk(long cookie, long offset, ByteBuffer data, boolean last) throws IOException {
        writeLock.lock();
        try {
            writeChunkHeader(cookie, last ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_DATA, 8 + data.remaining());
            out.writeLong(offset);
            out.write(data.array(), data.arrayOffset() + data.position(), data.remaining());
            out.flush();
        } finally {
            writeLock.unlock();
        }
    }

    private void holeChunk(long cookie, long offset, long length, boolean last) throws IOException {
        chunk(cookie, last ? REPLY_FLAG_DONE : 0, REPLY_TYPE_OFFSET_HOLE,
            ByteBuffer.allocate(12).putLong(offset).putInt((int) length).flip());
    }

    private void chunk(long cookie, int flags, int type, ByteBuffer payload) throws IOException {
        writeLock.lock();
        try {
            writeChunkHeader(cookie, flags, type, payload.remaining());
            out.write(payload.array(), payload.arrayOffset() + payload.position(), payload.remaining());
            out.flush();
        } finally {
            writeLock.unlock();
        }
    }

    private void writeChunkHeader(long cookie, int flags, int type, int length) throws IOException {
        out.writeInt(STRUCTURED_REPLY_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(cookie);
        out.writeInt(length);
    }

    private void closeQuietly() {
        try {
            out.close();
        } catch (IOException ignored) {
            // the connection is going away
        }
    }
}
