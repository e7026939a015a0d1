package fivenines.block.aoe;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A Linux packet socket (AF_PACKET, SOCK_RAW) bound to one interface and one EtherType,
 * through the FFM API: whole Ethernet frames in and out, no native helper. Needs CAP_NET_RAW.
 *
 * <p>{@link #receive} waits at most the timeout given at open (SO_RCVTIMEO), so a reader
 * thread sees {@link #close} soon. Frames this host sent (PACKET_OUTGOING) and frames for
 * another host's MAC (PACKET_OTHERHOST, in promiscuous mode) are skipped.
 * Sending and receiving may happen on different threads at once.
 */
public final class RawSocket implements AoeInitiator.Link {
    private static final int AF_PACKET = 17;
    private static final int SOCK_RAW = 3;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1;
    private static final int SO_SNDBUF = 7;
    private static final int SO_RCVBUF = 8;
    private static final int SO_RCVTIMEO = 20;
    private static final int SO_RCVBUFFORCE = 33;
    private static final int SO_SNDBUFFORCE = 32;
    private static final int EAGAIN = 11;
    private static final int EINTR = 4;
    private static final int PACKET_OTHERHOST = 3;
    private static final int PACKET_OUTGOING = 4;
    private static final int SOCKADDR_LL = 20;
    private static final int SOL_PACKET = 263;
    private static final int PACKET_IGNORE_OUTGOING = 23;
    private static final long SIOCINQ = 0x541B;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong SIZE = ValueLayout.JAVA_LONG;
    private static final MethodHandle SOCKET = function("socket", FunctionDescriptor.of(INT, INT, INT, INT));
    private static final MethodHandle BIND = function("bind", FunctionDescriptor.of(INT, INT, ValueLayout.ADDRESS, INT));
    private static final MethodHandle SETSOCKOPT = function("setsockopt",
        FunctionDescriptor.of(INT, INT, INT, INT, ValueLayout.ADDRESS, INT));
    private static final MethodHandle SEND = function("send", FunctionDescriptor.of(SIZE, INT, ValueLayout.ADDRESS, SIZE, INT));
    private static final MethodHandle SENDMMSG = function("sendmmsg",
        FunctionDescriptor.of(INT, INT, ValueLayout.ADDRESS, INT, INT));
    private static final MethodHandle RECVMMSG = function("recvmmsg",
        FunctionDescriptor.of(INT, INT, ValueLayout.ADDRESS, INT, INT, ValueLayout.ADDRESS));
    private static final int MSG_WAITFORONE = 0x10000;
    private static final int MSG_DONTWAIT = 0x40;
    /** struct iovec, struct mmsghdr (a msghdr and msg_len) on x86-64 and arm64; sockaddr_ll slots 8-aligned. */
    private static final int IOVEC = 16;
    private static final int MMSGHDR = 64;
    private static final int MSG_LEN = 56;
    private static final int ADDRESS_SLOT = 24;
    private static final MethodHandle CLOSE = function("close", FunctionDescriptor.of(INT, INT));
    private static final MethodHandle IOCTL = function("ioctl",
        FunctionDescriptor.of(INT, INT, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle IF_NAMETOINDEX = function("if_nametoindex", FunctionDescriptor.of(INT, ValueLayout.ADDRESS));

    private final int fd;
    private final String interfaceName;
    private final MacAddress mac;
    private final int mtu;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final ThreadLocal<Buffers> buffers;

    /** recvmmsg's vectors for one thread: {@code count} frames, each with its address and iovec. */
    private record Batch(int count, int frameSize, MemorySegment frames, MemorySegment addresses, MemorySegment headers,
                         MemorySegment state) {
    }

    private final ThreadLocal<Batch> batches;

    /**
     * One thread's send buffers: {@link #BATCH} frames, of which the first {@code queued} wait for
     * {@link #sendQueued} (with their lengths in their mmsghdrs); the ioctl's answer and errno
     * (receives have their own, {@link Batch}).
     */
    private static final class Buffers {
        final MemorySegment[] frames;
        final java.nio.ByteBuffer[] frameBuffers;
        final MemorySegment iovecs;
        final MemorySegment headers;
        final MemorySegment waiting;
        final MemorySegment state;
        int queued;

        Buffers(int frameSize) {
            Arena arena = Arena.ofAuto();
            frames = new MemorySegment[BATCH];
            frameBuffers = new java.nio.ByteBuffer[BATCH];
            MemorySegment all = arena.allocate((long) frameSize * BATCH, 64);
            iovecs = arena.allocate((long) IOVEC * BATCH, 8);
            headers = arena.allocate((long) MMSGHDR * BATCH, 8);
            for (int i = 0; i < BATCH; i++) {
                frames[i] = all.asSlice((long) frameSize * i, frameSize);
                frameBuffers[i] = frames[i].asByteBuffer();
                MemorySegment iov = iovecs.asSlice((long) IOVEC * i, IOVEC);
                iov.set(ValueLayout.ADDRESS, 0, frames[i]);
                MemorySegment header = headers.asSlice((long) MMSGHDR * i, MMSGHDR);
                header.set(ValueLayout.ADDRESS, 0, MemorySegment.NULL); // the bound interface
                header.set(INT, 8, 0);
                header.set(ValueLayout.ADDRESS, 16, iov);
                header.set(SIZE, 24, 1L);
                header.set(ValueLayout.ADDRESS, 32, MemorySegment.NULL);
                header.set(SIZE, 40, 0L);
                header.set(INT, 48, 0);
            }
            waiting = arena.allocate(INT);
            state = arena.allocate(CALL_STATE);
        }

        MemorySegment current() {
            return frames[queued];
        }
    }

    private RawSocket(int fd, String interfaceName, MacAddress mac, int mtu) {
        this.fd = fd;
        this.interfaceName = interfaceName;
        this.mac = mac;
        this.mtu = mtu;
        int frameSize = mtu + AoeProtocol.ETHERNET_HEADER + 64;
        this.batches = ThreadLocal.withInitial(() -> {
            Arena arena = Arena.ofAuto();
            int count = BATCH;
            MemorySegment frames = arena.allocate((long) frameSize * count, 64);
            MemorySegment addresses = arena.allocate((long) ADDRESS_SLOT * count, 8);
            MemorySegment iovecs = arena.allocate((long) IOVEC * count, 8);
            MemorySegment headers = arena.allocate((long) MMSGHDR * count, 8);
            for (int i = 0; i < count; i++) {
                MemorySegment iov = iovecs.asSlice((long) IOVEC * i, IOVEC);
                iov.set(ValueLayout.ADDRESS, 0, frames.asSlice((long) frameSize * i, frameSize));
                iov.set(SIZE, 8, frameSize);
                MemorySegment header = headers.asSlice((long) MMSGHDR * i, MMSGHDR);
                header.set(ValueLayout.ADDRESS, 0, addresses.asSlice((long) ADDRESS_SLOT * i, ADDRESS_SLOT));
                header.set(INT, 8, SOCKADDR_LL);
                header.set(ValueLayout.ADDRESS, 16, iov);
                header.set(SIZE, 24, 1L);
                header.set(ValueLayout.ADDRESS, 32, MemorySegment.NULL);
                header.set(SIZE, 40, 0L);
                header.set(INT, 48, 0);
            }
            return new Batch(count, frameSize, frames, addresses, headers, arena.allocate(CALL_STATE));
        });
        this.buffers = ThreadLocal.withInitial(() -> new Buffers(frameSize));
    }

    // restricted: the JVM is started with --enable-native-access (surefire, the agent, the bench)
    @SuppressWarnings("restricted")
    private static MethodHandle function(String name, FunctionDescriptor descriptor, Linker.Option... more) {
        MemorySegment address = LINKER.defaultLookup().find(name)
            .orElseThrow(() -> new IllegalStateException("the C library has no " + name));
        Linker.Option[] options = new Linker.Option[more.length + 1];
        options[0] = CAPTURE_ERRNO;
        System.arraycopy(more, 0, options, 1, more.length);
        return LINKER.downcallHandle(address, descriptor, options);
    }

    /** The interface's MAC address and MTU, from sysfs; a clear error when there is no such interface. */
    public static InterfaceInfo interfaceInfo(String name) throws IOException {
        if (name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..")) {
            throw new IOException("'" + name + "' is not a network interface name");
        }
        Path dir = Path.of("/sys/class/net", name);
        if (!Files.isDirectory(dir)) {
            throw new IOException("no network interface '" + name + "' on this node");
        }
        MacAddress mac = MacAddress.parse(Files.readString(dir.resolve("address")));
        int mtu = Integer.parseInt(Files.readString(dir.resolve("mtu")).trim());
        return new InterfaceInfo(name, mac, mtu);
    }

    public record InterfaceInfo(String name, MacAddress mac, int mtu) {
    }

    /** Opens a packet socket on {@code interfaceName} for {@code etherType} frames. */
    public static RawSocket open(String interfaceName, int etherType, int receiveTimeoutMillis, int bufferBytes) throws IOException {
        InterfaceInfo info = interfaceInfo(interfaceName);
        int protocol = Short.toUnsignedInt(Short.reverseBytes((short) etherType));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int index = (int) IF_NAMETOINDEX.invokeExact(state, arena.allocateFrom(interfaceName));
            if (index == 0) {
                throw new IOException("no network interface '" + interfaceName + "' on this node");
            }
            int fd = (int) SOCKET.invokeExact(state, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, protocol);
            if (fd < 0) {
                throw new IOException("cannot open a packet socket (AF_PACKET needs CAP_NET_RAW): errno " + errno(state));
            }
            try {
                MemorySegment address = arena.allocate(SOCKADDR_LL);
                address.set(ValueLayout.JAVA_SHORT, 0, (short) AF_PACKET);
                address.set(ValueLayout.JAVA_SHORT, 2, (short) protocol);
                address.set(ValueLayout.JAVA_INT, 4, index);
                if ((int) BIND.invokeExact(state, fd, address, SOCKADDR_LL) < 0) {
                    throw new IOException("cannot bind a packet socket to " + interfaceName + ": errno " + errno(state));
                }
                MemorySegment timeout = arena.allocate(16);
                timeout.set(ValueLayout.JAVA_LONG, 0, receiveTimeoutMillis / 1000);
                timeout.set(ValueLayout.JAVA_LONG, 8, (receiveTimeoutMillis % 1000) * 1000L);
                if ((int) SETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_RCVTIMEO, timeout, 16) < 0) {
                    throw new IOException("setsockopt SO_RCVTIMEO failed: errno " + errno(state));
                }
                // the frames this host sends are not looped back to this socket (Linux 4.20+): each reply
                // would otherwise wake the reader once more; receive skips them where the option is missing
                int ignoredOutgoing = (int) SETSOCKOPT.invokeExact(state, fd, SOL_PACKET, PACKET_IGNORE_OUTGOING,
                    arena.allocateFrom(INT, 1), 4);
                MemorySegment size = arena.allocateFrom(INT, bufferBytes);
                // FORCE goes past rmem_max as root; without it the plain option takes what it may
                if ((int) SETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) < 0) {
                    int ignored = (int) SETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_RCVBUF, size, 4);
                }
                if ((int) SETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_SNDBUFFORCE, size, 4) < 0) {
                    int ignored = (int) SETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_SNDBUF, size, 4);
                }
            } catch (IOException | RuntimeException e) {
                closeFd(fd);
                throw e;
            }
            return new RawSocket(fd, interfaceName, info.mac(), info.mtu());
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("packet socket on " + interfaceName + " failed", t);
        }
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    @Override
    public String interfaceName() {
        return interfaceName;
    }

    @Override
    public MacAddress mac() {
        return mac;
    }

    @Override
    public int mtu() {
        return mtu;
    }

    /**
     * Waits for the next frame addressed to this host (or broadcast) and copies it into
     * {@code into}; returns its length, or -1 when the timeout passed or the socket is closed.
     * A frame longer than {@code into} is cut to its length.
     */
    @Override
    public int receive(byte[] into) throws IOException {
        int[] length = new int[1];
        return receiveBatch(new byte[][] {into}, length) == 1 ? length[0] : -1;
    }

    /** The most frames {@link #receiveBatch} returns at once. */
    public static final int BATCH = 16;

    /**
     * Waits for the next frame addressed to this host (or broadcast), then takes every other one
     * already queued, up to {@code into.length} and {@link #BATCH}, in one system call (recvmmsg with
     * MSG_WAITFORONE); copies frame {@code i} into {@code into[i]} (each at least the MTU and the
     * Ethernet header, a longer frame is cut) and its length into {@code lengths[i]}. Returns how
     * many, 0 when the timeout passed, -1 when the socket is closed.
     */
    public int receiveBatch(byte[][] into, int[] lengths) throws IOException {
        return receiveBatch(into, lengths, 0);
    }

    /**
     * {@link #receiveBatch(byte[][], int[])}, but asking without waiting for up to {@code spinNanos}
     * first (giving the core to any other thread that wants it between tries), so that a frame arriving
     * meanwhile is taken without the thread going to sleep and being woken: on an idle core the wake-up
     * costs more than serving the frame.
     */
    public int receiveBatch(byte[][] into, int[] lengths, long spinNanos) throws IOException {
        Batch b = batches.get();
        int want = Math.min(Math.min(into.length, lengths.length), b.count());
        long spinUntil = spinNanos > 0 ? System.nanoTime() + spinNanos : 0;
        while (!closed.get()) {
            boolean spinning = spinUntil != 0 && System.nanoTime() < spinUntil;
            for (int i = 0; i < want; i++) {
                b.headers().set(INT, (long) MMSGHDR * i + 8, SOCKADDR_LL);
            }
            int n;
            try {
                n = (int) RECVMMSG.invokeExact(b.state(), fd, b.headers(), want, spinning ? MSG_DONTWAIT : MSG_WAITFORONE,
                    MemorySegment.NULL);
            } catch (Throwable t) {
                throw new IOException("recvmmsg failed", t);
            }
            if (n < 0) {
                int errno = errno(b.state());
                if (errno == EAGAIN) {
                    if (spinning) {
                        Thread.yield(); // a thread that has work on this core gets it
                        continue;
                    }
                    return 0;
                }
                if (errno == EINTR) {
                    continue;
                }
                if (closed.get()) {
                    return -1;
                }
                throw new IOException("recvmmsg on " + interfaceName + " failed: errno " + errno);
            }
            int kept = 0;
            for (int i = 0; i < n; i++) {
                int type = Byte.toUnsignedInt(b.addresses().get(ValueLayout.JAVA_BYTE, (long) ADDRESS_SLOT * i + 10));
                if (type == PACKET_OUTGOING || type == PACKET_OTHERHOST) {
                    continue; // sent by this host, or for another host's MAC (seen in promiscuous mode)
                }
                int length = Math.min(b.headers().get(INT, (long) MMSGHDR * i + MSG_LEN), into[kept].length);
                MemorySegment.copy(b.frames(), ValueLayout.JAVA_BYTE, (long) b.frameSize() * i, into[kept], 0, length);
                lengths[kept++] = length;
            }
            if (kept > 0) {
                return kept;
            }
        }
        return -1;
    }

    /**
     * Whether a frame is waiting to be received now (SIOCINQ: the length of the first frame in the
     * receive queue); true when it cannot be told, so that a caller takes the path that does not
     * hold frames back.
     */
    public boolean framesWaiting() {
        Buffers b = buffers.get();
        try {
            if ((int) IOCTL.invokeExact(b.state, fd, SIOCINQ, b.waiting) != 0) {
                return true;
            }
            return b.waiting.get(INT, 0) > 0;
        } catch (Throwable t) {
            return true;
        }
    }

    /**
     * Sends one whole Ethernet frame (without checksum) on the interface, after the frames this
     * thread queued ({@link #queue}), which go with it in one system call.
     */
    @Override
    public void send(byte[] frame, int length) throws IOException {
        Buffers b = buffers.get();
        copyIn(b, frame, length);
        sendPrepared(length);
    }

    /**
     * This thread's next frame buffer (direct memory, the MTU and more): a reply built in it is sent
     * by {@link #sendPrepared} or queued by {@link #queuePrepared} without a copy. Only sends use it;
     * receives have buffers of their own. Another buffer once a frame is queued.
     */
    public java.nio.ByteBuffer frameBuffer() {
        Buffers b = buffers.get();
        return b.frameBuffers[b.queued];
    }

    /** Sends the first {@code length} bytes of this thread's {@link #frameBuffer()}, after those queued. */
    public void sendPrepared(int length) throws IOException {
        Buffers b = buffers.get();
        if (b.queued == 0) {
            checkLength(b, length);
            sendOne(b, b.frames[0], length);
        } else {
            queuePrepared(length);
            sendQueued();
        }
    }

    /** Queues a copy of {@code frame} to go with this thread's next {@link #sendQueued}. */
    public void queue(byte[] frame, int length) throws IOException {
        Buffers b = buffers.get();
        copyIn(b, frame, length);
        queuePrepared(length);
    }

    /**
     * Queues the first {@code length} bytes of this thread's {@link #frameBuffer()} to go with its next
     * {@link #sendQueued} (sent at once when {@link #BATCH} are waiting).
     */
    public void queuePrepared(int length) throws IOException {
        Buffers b = buffers.get();
        checkLength(b, length);
        b.iovecs.set(SIZE, (long) IOVEC * b.queued + 8, length);
        b.queued++;
        if (b.queued == BATCH) {
            sendQueued();
        }
    }

    /**
     * Sends every frame this thread queued, in order, in one system call (sendmmsg); none are queued
     * after it, also when it fails (the exception says how many were not sent).
     */
    public void sendQueued() throws IOException {
        Buffers b = buffers.get();
        int count = b.queued;
        if (count == 0) {
            return;
        }
        b.queued = 0;
        if (count == 1) {
            sendOne(b, b.frames[0], b.iovecs.get(SIZE, 8));
            return;
        }
        int sent = 0;
        while (sent < count) {
            int n;
            try {
                n = (int) SENDMMSG.invokeExact(b.state, fd, b.headers.asSlice((long) MMSGHDR * sent), count - sent, 0);
            } catch (Throwable t) {
                throw new IOException("sendmmsg failed", t);
            }
            if (n > 0) {
                sent += n;
                continue;
            }
            int errno = errno(b.state);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            throw new IOException("send on " + interfaceName + " failed: errno " + errno + " (" + (count - sent)
                + " of " + count + " frames not sent)");
        }
    }

    private void copyIn(Buffers b, byte[] frame, int length) throws IOException {
        checkLength(b, length);
        MemorySegment.copy(frame, 0, b.current(), ValueLayout.JAVA_BYTE, 0, length);
    }

    private void checkLength(Buffers b, long length) throws IOException {
        if (length > b.current().byteSize()) {
            throw new IOException("a frame of " + length + " bytes is beyond the MTU of " + interfaceName);
        }
    }

    private void sendOne(Buffers b, MemorySegment frame, long length) throws IOException {
        while (true) {
            long n;
            try {
                n = (long) SEND.invokeExact(b.state, fd, frame, length, 0);
            } catch (Throwable t) {
                throw new IOException("send failed", t);
            }
            if (n >= 0) {
                return;
            }
            int errno = errno(b.state);
            if (errno != EINTR) {
                throw new IOException("send on " + interfaceName + " failed: errno " + errno);
            }
        }
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            closeFd(fd);
        }
    }

    private static void closeFd(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) CLOSE.invokeExact(arena.allocate(CALL_STATE), fd);
        } catch (Throwable t) {
            // nothing to repair
        }
    }
}
