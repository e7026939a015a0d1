package fivenines.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * CPU time used so far by this process's children (the agents, or the ZooKeeper servers), read
 * from {@code /proc}: all their threads together, and the threads of their JIT compilers
 * ({@code C1/C2 CompilerThread}). A benchmark that measures servers whose compiler is still busy
 * measures their warm-up: {@link #minus} over a phase gives the compiler's share of it.
 *
 * @param totalNanos    CPU of every child, all its threads, user and system
 * @param compilerNanos of that, the compiler threads'
 */
public record ChildCpu(long totalNanos, long compilerNanos) {
    /** Linux reports thread times in clock ticks of USER_HZ, which is 100 on every architecture the JDK runs on. */
    private static final long NANOS_PER_TICK = 10_000_000L;

    /**
     * The children's CPU now: each process's own count (which keeps the CPU of threads that ended), and
     * its compiler threads' (a compiler thread that ended is no longer counted: take differences over a phase).
     */
    public static ChildCpu now() {
        long total = 0;
        long compiler = 0;
        for (ProcessHandle child : ProcessHandle.current().children().toList()) {
            Path process = Path.of("/proc", Long.toString(child.pid()));
            total += ticks(process.resolve("stat"));
            try (var threads = Files.list(process.resolve("task"))) {
                for (Path thread : threads.toList()) {
                    if (isCompiler(Files.readString(thread.resolve("comm")).strip())) {
                        compiler += ticks(thread.resolve("stat"));
                    }
                }
            } catch (IOException gone) {
                // the child or one of its threads ended while it was read: what was read stands
            }
        }
        return new ChildCpu(total * NANOS_PER_TICK, compiler * NANOS_PER_TICK);
    }

    static boolean isCompiler(String threadName) {
        return threadName.startsWith("C1 CompilerThre") || threadName.startsWith("C2 CompilerThre");
    }

    /** utime + stime of a process's or a thread's stat line (fields 14 and 15, counted after the name in parentheses). */
    static long ticks(Path stat) {
        try {
            String line = Files.readString(stat);
            String[] fields = line.substring(line.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
        } catch (IOException | RuntimeException gone) {
            return 0;
        }
    }

    public ChildCpu minus(ChildCpu earlier) {
        return new ChildCpu(totalNanos - earlier.totalNanos, compilerNanos - earlier.compilerNanos);
    }

    /** The compilers' share of the CPU, 0 to 1 (0 when nothing ran). */
    public double compilerShare() {
        return totalNanos <= 0 ? 0 : (double) compilerNanos / totalNanos;
    }

    @Override
    public String toString() {
        return String.format("%.1f s of CPU, %.0f %% of it in their JIT compilers", totalNanos / 1e9, 100 * compilerShare());
    }
}
