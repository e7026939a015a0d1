package fivenines.block.nbd;

import fivenines.block.export.ExportRegistry;
import fivenines.block.export.FileExport;

import java.nio.file.Path;

/** Serves one file over NBD: {@code ServeFile FILE [--port P] [--socket PATH] [--name NAME]}. For benchmarks. */
public final class ServeFile {
    private ServeFile() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: ServeFile FILE [--port P] [--socket PATH] [--name NAME] [--host HOST]");
            System.exit(2);
        }
        Path file = Path.of(args[0]);
        int port = 10809;
        Path socket = null;
        String name = "";
        String host = "127.0.0.1";
        for (int i = 1; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--port" -> port = Integer.parseInt(args[i + 1]);
                case "--socket" -> socket = Path.of(args[i + 1]);
                case "--name" -> name = args[i + 1];
                case "--host" -> host = args[i + 1];
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        var registry = new ExportRegistry();
        registry.add(FileExport.wholeFile(name.isEmpty() ? file.getFileName().toString() : name, file, false));
        var server = new NbdServer(NbdServer.Config.tcpAndUnix(host, port, socket), registry);
        server.start();
        System.out.println("serving " + file + " on " + host + ":" + server.tcpPort() + (socket == null ? "" : " and " + socket));
        Thread.currentThread().join();
    }
}
