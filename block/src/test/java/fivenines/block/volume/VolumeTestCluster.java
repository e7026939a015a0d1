package fivenines.block.volume;

import fivenines.block.export.BlockExport;
import fivenines.block.export.ExportRegistry;
import fivenines.block.export.ExportResolver;
import fivenines.block.export.FileExport;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.block.nbd.NbdServer;
import fivenines.model.command.AddNode;
import fivenines.model.command.AttachLogicalVolume;
import fivenines.model.command.Command;
import fivenines.model.command.CommitChunks;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.ReserveChunks;
import fivenines.model.state.ClusterState;
import fivenines.model.state.Result;
import fivenines.model.state.StateMachine;
import fivenines.model.storage.ChunkMapping;
import fivenines.model.storage.ChunkRef;
import fivenines.model.storage.PhysicalVolume;
import fivenines.model.storage.VolumeView;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Two nodes' block services in one process: n0 runs the volume engines and holds pv0 locally;
 * n1's block service serves pv1 over real NBD on loopback, behind the epoch guard. The store is
 * the real state machine without replication.
 */
final class VolumeTestCluster implements AutoCloseable {
    static final long EXTENT = 4L << 20;
    static final String PV0 = "00000000-0000-4000-8000-000000000000";
    static final String PV1 = "00000000-0000-4000-8000-000000000001";
    static final String PV2 = "00000000-0000-4000-8000-000000000002";

    final StateMachine machine = new StateMachine(new ClusterState());
    final Map<String, FileExport> files = new ConcurrentHashMap<>();
    final ExportRegistry engines = new ExportRegistry();
    final NbdServer engineServer;
    final NbdServer remoteServer;
    final Path socket;
    private final List<AttachedVolume> started = new ArrayList<>();
    private long index;

    VolumeTestCluster(Path dir, long pvSize) throws IOException {
        apply(new CreateCluster("c", "a".repeat(64), "n0", "127.0.0.1:1", "127.0.0.1:2", 3));
        apply(new AddNode("n1", "127.0.0.1:3", "127.0.0.1:4", false));
        apply(new AddNode("n2", "127.0.0.1:5", "127.0.0.1:6", false));
        ExportResolver remote = new ExportResolver() {
            @Override
            public BlockExport resolve(String name) {
                var parsed = GuardedExport.parse(name);
                if (parsed == null || !files.containsKey(parsed.physicalVolumeExport())) {
                    return null;
                }
                var guarded = new GuardedExport(new Faulty(files.get(parsed.physicalVolumeExport())), parsed.volume(),
                    parsed.epoch(), VolumeTestCluster.this::epoch);
                return epoch(parsed.volume()) == parsed.epoch() ? guarded : null;
            }

            @Override
            public List<String> names() {
                return List.of();
            }
        };
        remoteServer = new NbdServer(NbdServer.Config.tcpAndUnix("127.0.0.1", 0, dir.resolve("n1.sock")), remote);
        remoteServer.start();
        socket = dir.resolve("n0.sock");
        engineServer = new NbdServer(NbdServer.Config.tcpAndUnix("127.0.0.1", 0, socket), engines);
        engineServer.start();
        addPv(dir, PV0, "n0", pvSize);
        addPv(dir, PV1, "n1", pvSize);
    }

    void addPv(Path dir, String id, String node, long size) throws IOException {
        Path file = dir.resolve(id + ".img");
        try (var raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(size);
        }
        var pv = (PhysicalVolume) value(apply(new CreatePhysicalVolume(id, node, "/" + id, size, EXTENT,
            "127.0.0.1:" + remoteServer.tcpPort(), "/run/x.sock")));
        files.put(pv.exportName(), FileExport.wholeFile(pv.exportName(), file, false));
    }

    /** PV exports that fail every request (their node's disk or network is gone), or hang. */
    final java.util.Set<String> failing = ConcurrentHashMap.newKeySet();
    final java.util.Set<String> hanging = ConcurrentHashMap.newKeySet();
    /** PV exports that answer every request only after this many milliseconds (a slow link or a busy node). */
    final Map<String, Long> slowMillis = new ConcurrentHashMap<>();
    /** PV exports whose node takes no connection (its agent is killed; the store may still count the node up). */
    final java.util.Set<String> refusing = ConcurrentHashMap.newKeySet();
    /** Command types the store cannot make now (it has no quorum here). */
    final java.util.Set<Class<?>> unreachable = ConcurrentHashMap.newKeySet();

    /** A remote PV whose requests fail or hang while its export is in {@link #failing} or {@link #hanging}. */
    final class Faulty implements BlockExport {
        private final FileExport file;

        Faulty(FileExport file) {
            this.file = file;
        }

        private void check() throws IOException {
            long slow = slowMillis.getOrDefault(file.name(), 0L);
            if (slow > 0) {
                try {
                    Thread.sleep(slow);
                } catch (InterruptedException e) {
                    throw new IOException("interrupted");
                }
            }
            while (hanging.contains(file.name())) {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    throw new IOException("interrupted");
                }
            }
            if (failing.contains(file.name())) {
                throw new IOException("disk " + file.name() + " is gone");
            }
        }

        @Override public String name() { return file.name(); }
        @Override public long size() { return file.size(); }
        @Override public boolean readOnly() { return file.readOnly(); }
        @Override public void read(long offset, java.nio.ByteBuffer target) throws IOException { check(); file.read(offset, target); }
        @Override public void write(long offset, java.nio.ByteBuffer source, boolean fua) throws IOException { check(); file.write(offset, source, fua); }
        @Override public void flush() throws IOException { check(); file.flush(); }
        @Override public void trim(long offset, long length) throws IOException { check(); file.trim(offset, length); }
        @Override public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException { check(); file.writeZeroes(offset, length, noHole, fua); }
        @Override public List<fivenines.block.export.Extent> blockStatus(long offset, long length) throws IOException { check(); return file.blockStatus(offset, length); }
    }

    /**
     * Ranges ({offset, length}) written to each of n0's PVs without FUA and not flushed since: what a power
     * cut on n0 could still take back.
     */
    final Map<String, List<long[]>> unflushed = new ConcurrentHashMap<>();

    /** A local PV that records which of its writes are not yet on stable storage. */
    final class Tracked extends fivenines.block.export.ForwardingExport {
        Tracked(FileExport file) {
            super(file);
        }

        private void wrote(long offset, long length, boolean fua) {
            if (!fua) {
                unflushed.computeIfAbsent(name(), k -> java.util.Collections.synchronizedList(new ArrayList<>()))
                    .add(new long[] {offset, length});
            }
        }

        @Override
        public void write(long offset, java.nio.ByteBuffer source, boolean fua) throws IOException {
            long length = source.remaining();
            super.write(offset, source, fua);
            wrote(offset, length, fua);
        }

        @Override
        public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
            super.writeZeroes(offset, length, noHole, fua);
            wrote(offset, length, fua);
        }

        @Override
        public void flush() throws IOException {
            var before = List.copyOf(unflushed.getOrDefault(name(), List.of()));
            super.flush();
            unflushed.getOrDefault(name(), new ArrayList<>()).removeAll(before);
        }
    }

    /** Every command applied, in order. */
    final List<Command> commands = java.util.Collections.synchronizedList(new ArrayList<>());

    synchronized Result apply(Command command) {
        if (unreachable.contains(command.getClass())) {
            throw new IllegalStateException("the store cannot be reached");
        }
        commands.add(command);
        return machine.apply(command, ++index);
    }

    static Object value(Result result) {
        if (result instanceof Result.Applied applied) {
            return applied.value();
        }
        throw new AssertionError("rejected: " + result);
    }

    synchronized long epoch(String volume) {
        return machine.state().volumes().volume(volume).map(v -> v.epoch()).orElse(-1L);
    }

    synchronized VolumeView view(String volume) {
        return machine.state().volumes().view(volume);
    }

    /** Attaches on n0 and serves the engine; returns it. */
    VolumeEngine attach(String vg, String lv) throws IOException {
        value(apply(new AttachLogicalVolume(vg, lv, "n0", false, false)));
        var engine = new VolumeEngine(metadata(vg, lv), devices, Duration.ofMillis(100));
        engines.add(engine);
        started.add(engine);
        return engine;
    }

    /** Attaches a mirrored volume on n0 and serves its engine. */
    MirrorEngine attachMirror(String vg, String lv, MirrorEngine.Settings settings) throws IOException {
        value(apply(new AttachLogicalVolume(vg, lv, "n0", false, false)));
        return startMirror(vg, lv, settings);
    }

    /** Starts a mirror engine for a volume attached on n0 already (an agent restarting). */
    MirrorEngine startMirror(String vg, String lv, MirrorEngine.Settings settings) throws IOException {
        var engine = new MirrorEngine(mirrorMetadata(vg, lv), devices, settings);
        engines.add(engine);
        started.add(engine);
        return engine;
    }

    /** Stops serving an engine without it letting go (its node died). */
    void crash(AttachedVolume engine, String reason) {
        engines.remove(engine.name());
        engine.abandon(reason);
    }

    MirrorMetadata mirrorMetadata(String vg, String lv) {
        String path = vg + "/" + lv;
        return new MirrorMetadata() {
            @Override
            public String node() {
                return "n0";
            }

            @Override
            public VolumeMetadata leg(int leg) {
                return metadata(vg, lv, leg);
            }

            @Override
            public VolumeView view(int leg) throws IOException {
                synchronized (VolumeTestCluster.this) {
                    try {
                        return machine.state().volumes().view(path, leg);
                    } catch (fivenines.model.state.Rejection gone) {
                        throw new NbdErrorException(NbdProtocol.ESHUTDOWN, gone.getMessage());
                    }
                }
            }

            @Override
            public fivenines.model.storage.MirrorStatus status() {
                synchronized (VolumeTestCluster.this) {
                    return machine.state().volumes().mirrorStatus(machine.state().volumes().volume(path).orElseThrow());
                }
            }

            @Override
            public void dropLeg(long epoch, int leg, String reason, List<fivenines.model.storage.ChunkSpan> missed)
                throws IOException {
                call(new fivenines.model.command.DropLeg(vg, lv, "n0", epoch, leg, reason, System.currentTimeMillis(), missed));
            }

            @Override
            public void markRegions(long epoch, List<fivenines.model.storage.ChunkSpan> activate,
                                    List<fivenines.model.storage.ChunkSpan> retire,
                                    Map<Integer, List<fivenines.model.storage.ChunkSpan>> missed) throws IOException {
                call(new fivenines.model.command.MarkRegions(vg, lv, "n0", epoch, activate, retire, missed));
            }

            @Override
            public void startResync(long epoch, int leg) throws IOException {
                call(new fivenines.model.command.StartResync(vg, lv, "n0", epoch, leg, System.currentTimeMillis()));
            }

            @Override
            public void resynced(long epoch, int leg, List<fivenines.model.storage.ChunkSpan> done, boolean complete)
                throws IOException {
                call(new fivenines.model.command.ResyncLeg(vg, lv, "n0", epoch, leg, done, complete, System.currentTimeMillis()));
            }

            @Override
            public void repaired(long epoch, List<fivenines.model.storage.ChunkSpan> done) throws IOException {
                call(new fivenines.model.command.RepairedRegions(vg, lv, "n0", epoch, done));
            }
        };
    }

    private Object call(Command command) throws IOException {
        try {
            return orError(apply(command));
        } catch (IllegalStateException e) {
            throw new NbdErrorException(NbdProtocol.EIO, e.getMessage());
        }
    }

    VolumeMetadata metadata(String vg, String lv) {
        return metadata(vg, lv, 0);
    }

    VolumeMetadata metadata(String vg, String lv, int leg) {
        String path = vg + "/" + lv;
        return new VolumeMetadata() {
            @Override
            public String node() {
                return "n0";
            }

            @Override
            public VolumeView view() throws IOException {
                synchronized (VolumeTestCluster.this) {
                    try {
                        return machine.state().volumes().view(path, leg);
                    } catch (fivenines.model.state.Rejection gone) {
                        throw new NbdErrorException(NbdProtocol.ESHUTDOWN, gone.getMessage());
                    }
                }
            }

            @Override
            @SuppressWarnings("unchecked")
            public List<ChunkRef> reserve(long epoch, int count) throws IOException {
                return (List<ChunkRef>) call(new ReserveChunks(vg, lv, "n0", epoch, count, leg));
            }

            @Override
            public void commit(long epoch, List<ChunkMapping> mappings) throws IOException {
                call(new CommitChunks(vg, lv, "n0", epoch, mappings, leg));
            }
        };
    }

    static Object orError(Result result) throws NbdErrorException {
        if (result instanceof Result.Rejected rejected) {
            throw new NbdErrorException(switch (rejected.reason()) {
                case STALE_EPOCH -> NbdProtocol.ESHUTDOWN;
                case NO_SPACE -> NbdProtocol.ENOSPC;
                default -> NbdProtocol.EIO;
            }, rejected.message());
        }
        return ((Result.Applied) result).value();
    }

    /** n0's PVs are local (read in place), the others are reached over NBD. */
    final ChunkDevices devices = new ChunkDevices() {
        @Override
        public BlockExport open(String physicalVolume, String volume, long epoch) throws IOException {
            return VolumeTestCluster.this.open(physicalVolume, volume, epoch);
        }

        @Override
        public boolean isLocal(String physicalVolume) {
            synchronized (VolumeTestCluster.this) {
                return machine.state().storage().requirePhysicalVolume(physicalVolume).node().equals("n0");
            }
        }
    };

    BlockExport open(String pvId, String volume, long epoch) throws IOException {
        PhysicalVolume pv;
        synchronized (this) {
            pv = machine.state().storage().requirePhysicalVolume(pvId);
        }
        if (refusing.contains(pv.exportName())) {
            throw new java.net.ConnectException("Connection refused: " + pv.nbdAddress());
        }
        if (pv.node().equals("n0")) {
            return new GuardedExport(new Tracked(files.get(pv.exportName())), volume, epoch, this::epoch);
        }
        return new RemoteExport(pv.nbdAddress(), GuardedExport.exportName(pv.exportName(), volume, epoch), Duration.ofSeconds(5), null);
    }

    /** The volume's bytes as leg {@code leg} holds them, read from the PV files (unmapped chunks are zeroes). */
    byte[] legBytes(String volume, int leg) throws IOException {
        VolumeView view;
        synchronized (this) {
            view = machine.state().volumes().view(volume, leg);
        }
        byte[] all = new byte[(int) view.size()];
        for (VolumeView.Run run : view.runs()) {
            PhysicalVolume pv;
            synchronized (this) {
                pv = machine.state().storage().requirePhysicalVolume(run.run().physicalVolume());
            }
            FileExport file = files.get(pv.exportName());
            var buffer = java.nio.ByteBuffer.allocate((int) (run.run().count() * fivenines.model.storage.Volumes.CHUNK_SIZE));
            file.read(run.run().chunk() * fivenines.model.storage.Volumes.CHUNK_SIZE, buffer);
            System.arraycopy(buffer.array(), 0, all, (int) (run.run().virtualChunk() * fivenines.model.storage.Volumes.CHUNK_SIZE),
                (int) Math.min(buffer.capacity(), all.length - run.run().virtualChunk() * fivenines.model.storage.Volumes.CHUNK_SIZE));
        }
        return all;
    }

    String uri(String volume) {
        return "nbd+unix:///" + volume + "?socket=" + socket;
    }

    @Override
    public void close() throws IOException {
        for (AttachedVolume engine : started) {
            engine.abandon("test over");
        }
        engineServer.close();
        remoteServer.close();
        for (FileExport file : files.values()) {
            file.close();
        }
    }
}
