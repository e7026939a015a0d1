package fivenines.block.export;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;

/**
 * The few Linux calls the JDK does not offer: lseek with SEEK_DATA/SEEK_HOLE (which parts of
 * a sparse file hold data) and fallocate with PUNCH_HOLE (give space back), through the FFM API.
 */
final class NativeFiles {
    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_CLOEXEC = 0x80000;
    static final int SEEK_DATA = 3;
    static final int SEEK_HOLE = 4;
    static final int FALLOC_FL_KEEP_SIZE = 1;
    static final int FALLOC_FL_PUNCH_HOLE = 2;
    static final int ENXIO = 6;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    private static final MethodHandle OPEN = function("open",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle CLOSE = function("close", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle LSEEK = function("lseek",
        FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
    private static final MethodHandle FALLOCATE = function("fallocate",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));

    private NativeFiles() {
    }

    // restricted: the JVM is started with --enable-native-access (surefire, ServeFile, the agent)
    @SuppressWarnings("restricted")
    private static MethodHandle function(String name, FunctionDescriptor descriptor) {
        MemorySegment address = LINKER.defaultLookup().find(name)
            .orElseThrow(() -> new IllegalStateException("the C library has no " + name));
        return LINKER.downcallHandle(address, descriptor, CAPTURE_ERRNO);
    }

    static int open(Path path, boolean writable) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path.toString()), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
            if (fd < 0) {
                throw new IOException("cannot open " + path + ": errno " + (int) ERRNO.get(state, 0L));
            }
            return fd;
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("open " + path + " failed", t);
        }
    }

    static void close(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) CLOSE.invokeExact(arena.allocate(CALL_STATE), fd);
        } catch (Throwable t) {
            // a failed close of a descriptor we only read through leaves nothing to repair
        }
    }

    /** lseek(fd, offset, whence); returns -1 when the kernel answers ENXIO (no data or hole beyond offset). */
    static long seek(int fd, long offset, int whence) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            long result = (long) LSEEK.invokeExact(state, fd, offset, whence);
            if (result < 0) {
                int errno = (int) ERRNO.get(state, 0L);
                if (errno == ENXIO) {
                    return -1;
                }
                throw new IOException("lseek failed: errno " + errno);
            }
            return result;
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("lseek failed", t);
        }
    }

    /** Punches a hole; returns false when the file system cannot (the caller then writes zeroes). */
    static boolean punchHole(int fd, long offset, long length) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int result = (int) FALLOCATE.invokeExact(state, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
            if (result == 0) {
                return true;
            }
            int errno = (int) ERRNO.get(state, 0L);
            if (errno == 95 || errno == 22) { // EOPNOTSUPP, EINVAL: not here (e.g. a block device)
                return false;
            }
            throw new IOException("fallocate(PUNCH_HOLE) failed: errno " + errno);
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("fallocate failed", t);
        }
    }
}
