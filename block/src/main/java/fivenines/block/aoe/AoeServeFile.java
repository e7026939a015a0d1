package fivenines.block.aoe;

import fivenines.block.export.FileExport;

import java.nio.file.Path;

/**
 * Serves one file as an AoE target: {@code AoeServeFile FILE --interface IF [--shelf N] [--slot M]
 * [--no-flush] [--workers N] [--poll-micros N]}. For benchmarks and interop tests; {@code --no-flush}
 * acknowledges writes from the page cache, only to measure what durability costs; {@code --poll-micros 0}
 * turns the reader's polling off.
 */
public final class AoeServeFile {
    private AoeServeFile() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: AoeServeFile FILE --interface IF [--shelf N] [--slot M] [--no-flush] [--workers N] [--poll-micros N]");
            System.exit(2);
        }
        Path file = Path.of(args[0]);
        String interfaceName = null;
        int shelf = 1;
        int slot = 1;
        int workers = 4;
        boolean flush = true;
        int pollMicros = AoeTarget.DEFAULT_POLL_MICROS;
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--interface" -> interfaceName = args[++i];
                case "--shelf" -> shelf = Integer.parseInt(args[++i]);
                case "--slot" -> slot = Integer.parseInt(args[++i]);
                case "--workers" -> workers = Integer.parseInt(args[++i]);
                case "--no-flush" -> flush = false;
                case "--poll-micros" -> pollMicros = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (interfaceName == null) {
            throw new IllegalArgumentException("--interface is required");
        }
        var export = FileExport.wholeFile(file.getFileName().toString(), file, false);
        var target = AoeTarget.start(new AoeTarget.Config(interfaceName, shelf, slot, AoeTarget.DEFAULT_BUFFER_COUNT, workers, flush,
                pollMicros),
            () -> export);
        System.out.println("serving " + file + " as e" + shelf + "." + slot + " on " + interfaceName + " (" + target.mac()
            + ", MTU " + target.mtu() + ", " + target.handler().sectorsPerFrame() + " sectors a frame"
            + (flush ? "" : ", writes NOT flushed") + ")");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            target.close();
            System.out.println("stats " + target.stats());
        }));
        Thread.currentThread().join();
    }
}
