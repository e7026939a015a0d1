package fivenines.agent.vm;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.AgentConfig;
import fivenines.agent.Credentials;
import fivenines.agent.api.ApiException;
import fivenines.agent.client.AgentClient;
import fivenines.agent.cluster.ClusterService;
import fivenines.agent.storage.VolumeService;
import fivenines.model.cluster.Node;
import fivenines.model.command.Command;
import fivenines.model.command.DefineVm;
import fivenines.model.command.MigrateVm;
import fivenines.model.command.RemoveNode;
import fivenines.model.command.RemoveVm;
import fivenines.model.command.ReportNodeResources;
import fivenines.model.command.ReportVmStatus;
import fivenines.model.command.SetVmDesired;
import fivenines.model.state.Result;
import fivenines.model.vm.VmDefinition;
import fivenines.model.vm.VmRecord;
import fivenines.store.ClusterStore;
import fivenines.vm.migration.LiveMigration;
import fivenines.vm.migration.MigrationFailedException;
import fivenines.vm.migration.MigrationOptions;
import fivenines.vm.migration.MigrationProgress;
import fivenines.vm.migration.MigrationResult;
import fivenines.vm.qemu.Boot;
import fivenines.vm.qemu.CacheMode;
import fivenines.vm.qemu.DiskBus;
import fivenines.vm.qemu.DiskSource;
import fivenines.vm.qemu.DiskSpec;
import fivenines.vm.qemu.IncomingMigration;
import fivenines.vm.qemu.NicSpec;
import fivenines.vm.qemu.QemuProcess;
import fivenines.vm.qemu.VmFiles;
import fivenines.vm.qemu.VmPhase;
import fivenines.vm.qemu.VmSpec;
import fivenines.vm.qemu.VmStatus;
import fivenines.vm.qmp.QmpEvent;
import fivenines.vm.qmp.QmpException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The node controller for VMs: makes the QEMU processes on this node match the store. It
 * starts the VMs placed here (attaching their volumes through the volume engine first), stops
 * those no longer wanted, re-adopts running guests after an agent restart through their pid
 * files and QMP sockets, reports what QEMU says (an I/O error pauses the guest and is shown
 * with the volume concerned), handles crashes per on_crash, and carries out live migrations
 * from here as their source.
 */
public final class VmService {
    private static final Logger LOG = LoggerFactory.getLogger(VmService.class);
    private static final Duration POLL = Duration.ofSeconds(2);
    private static final Duration STOP_GRACE = Duration.ofSeconds(10);
    private static final int MAX_RESTARTS = 3;
    private static final Duration RESTART_WINDOW = Duration.ofMinutes(1);
    /** How long a destination QEMU's NBD connections wait for volumes that attach while it starts. */
    /** How long a destination waits for the source's 'begin' to reach its replica. */
    private static final Duration BEGIN_PATIENCE = Duration.ofSeconds(20);
    private static final Duration ATTACH_PATIENCE = Duration.ofSeconds(25); // below the NBD handshake timeout (30 s)

    private final AgentConfig config;
    private final ClusterService cluster;
    private final Credentials credentials;
    private final VolumeService volumes;
    private final Map<String, Guest> guests = new ConcurrentHashMap<>();
    private final Map<String, Migration> migrations = new ConcurrentHashMap<>();
    private final Map<String, String> reported = new ConcurrentHashMap<>();
    private final Map<String, AgentClient> peers = new ConcurrentHashMap<>();
    private static final Path SYS_CLASS_NET = Path.of("/sys/class/net");
    private final java.time.InstantSource clock = java.time.InstantSource.system();
    /** The start tries of VMs that failed to start here, by VM. */
    private final Map<String, StartTries> starts = new ConcurrentHashMap<>();

    /** The restart policy of a VM's start, for one generation of its record. */
    private record StartTries(long generation, RestartPolicy policy) {
    }

    /** Incoming migrations their source gave up on while they were being prepared. */
    private final Map<String, Boolean> abandonedIncoming = new ConcurrentHashMap<>();
    /** The volumes an incoming migration attached here itself: all that its undo may detach. */
    private final Map<String, List<String>> incomingAttached = new ConcurrentHashMap<>();
    private final ExecutorService reconciler = Executors.newSingleThreadExecutor(
        Thread.ofPlatform().daemon(true).name("vm-reconcile").factory());
    private volatile boolean running;
    private Thread poller;

    /** A QEMU process this node runs for a VM. */
    static final class Guest {
        final QemuProcess process;
        volatile boolean incoming;
        volatile String ioError;
        /** Crashes of this VM's guests here (carried over to the guest restarted after one). */
        RestartPolicy crashes;

        Guest(QemuProcess process) {
            this.process = process;
        }
    }

    public VmService(AgentConfig config, ClusterService cluster, Credentials credentials, VolumeService volumes) {
        this.config = config;
        this.cluster = cluster;
        this.credentials = credentials;
        this.volumes = volumes;
        cluster.onStoreStarted(this::watch);
    }

    private void watch(ClusterStore store) {
        store.addListener((index, command, result, state) -> {
            if (result instanceof Result.Applied && isVmCommand(command) && running) {
                reconciler.execute(this::reconcileAll);
            }
        });
        if (running) {
            reconciler.execute(this::start2);
        }
    }

    private static boolean isVmCommand(Command command) {
        return command instanceof DefineVm || command instanceof RemoveVm || command instanceof SetVmDesired
            || command instanceof MigrateVm || command instanceof RemoveNode;
    }

    public void start() {
        running = true;
        if (cluster.inCluster()) {
            reconciler.execute(this::start2);
        }
        poller = Thread.ofVirtual().name("vm-poll").start(() -> {
            while (running) {
                try {
                    Thread.sleep(POLL);
                } catch (InterruptedException e) {
                    return;
                }
                if (cluster.inCluster()) {
                    reconciler.execute(this::reconcileAll);
                }
            }
        });
    }

    private void start2() {
        reportResources();
        reconcileAll();
    }

    /** Lets go of the QEMU processes without stopping them: a restarted agent adopts them. */
    public void stop() {
        running = false;
        if (poller != null) {
            poller.interrupt();
        }
        for (Guest guest : guests.values()) {
            guest.process.detach();
        }
        guests.clear();
    }

    public Path directory(String vm) {
        return config.dataDir().resolve("vms").resolve(vm);
    }

    private VmFiles files(String vm) {
        return VmFiles.in(directory(vm));
    }

    private void reportResources() {
        try {
            long memoryMib = memoryForGuests();
            int cpus = Runtime.getRuntime().availableProcessors();
            cluster.store().submitAndWait(new ReportNodeResources(config.nodeName(), memoryMib, cpus));
        } catch (RuntimeException e) {
            LOG.warn("could not report this node's memory and CPUs: {}", e.getMessage());
        }
    }

    /** MemTotal less 512 MiB for the host (or NINES_GUEST_MEMORY_MIB when set). */
    static long memoryForGuests() {
        String forced = System.getenv("NINES_GUEST_MEMORY_MIB");
        if (forced != null) {
            return Long.parseLong(forced);
        }
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    long kib = Long.parseLong(line.replaceAll("[^0-9]", ""));
                    return Math.max(64, kib / 1024 - 512);
                }
            }
        } catch (IOException | NumberFormatException e) {
            LOG.debug("cannot read /proc/meminfo: {}", e.getMessage());
        }
        return 1024;
    }

    // ---- reconciling ----

    private synchronized void reconcileAll() {
        if (!running || !cluster.inCluster()) {
            return;
        }
        List<VmRecord> records = cluster.store().read(s -> List.copyOf(s.vms().vms()));
        var names = new java.util.HashSet<String>();
        for (VmRecord record : records) {
            names.add(record.name());
            try {
                reconcile(record);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException | IOException e) {
                LOG.warn("VM {}: {}", record.name(), e.getMessage());
                event(record.name(), "error: " + e.getMessage());
            }
        }
        for (String name : List.copyOf(guests.keySet())) {
            if (!names.contains(name)) {
                Guest guest = guests.remove(name);
                guest.process.close();
                LOG.info("VM {} was removed from the store; its QEMU is stopped", name);
            }
        }
    }

    private void reconcile(VmRecord record) throws IOException, InterruptedException {
        String name = record.name();
        if (migrations.containsKey(name)) {
            return; // the migration owns it until it ends
        }
        Guest guest = guests.get(name);
        if (guest != null && guest.incoming) {
            if (config.nodeName().equals(record.node())) {
                guest.incoming = false; // the migration completed: this node runs it now
                incomingAttached.remove(name);
            } else {
                return; // still the destination of a migration: the source decides
            }
        }
        boolean mine = config.nodeName().equals(record.node());
        boolean wanted = mine && !record.desired().equals("stopped");
        if (!wanted) {
            if (guest != null) {
                stopGuest(record, guest, false);
            } else if (mine && !"stopped".equals(record.phase()) && !"crashed".equals(record.phase())
                && !"failed".equals(record.phase())) {
                report(record, "stopped", null);
            }
            return;
        }
        if (guest == null) {
            guest = adoptOrStart(record);
            if (guest == null) {
                return;
            }
        }
        VmStatus status = guest.process.status();
        switch (status.phase()) {
            case GONE, CRASHED -> handleCrash(record, guest, status.phase() == VmPhase.GONE ? "QEMU exited" : "the guest crashed ("
                + status.qemuStatus() + ")");
            case SHUTDOWN -> {
                // the guest powered itself off: it stays off, as Xen's on_poweroff=destroy
                event(name, "the guest powered off");
                guests.remove(name);
                guest.process.stop(STOP_GRACE);
                detachDisks(record);
                submit(new SetVmDesired(name, "stopped", null));
                report(record, "stopped", "powered off by the guest");
            }
            case IO_ERROR -> report(record, "paused", guest.ioError != null ? guest.ioError : "io-error");
            case PAUSED -> {
                if (record.desired().equals("running")) {
                    resume(guest);
                    report(record, "running", null);
                } else {
                    report(record, "paused", null);
                }
            }
            case RUNNING -> {
                if (record.desired().equals("paused")) {
                    guest.process.pause();
                    report(record, "paused", null);
                } else {
                    guest.ioError = null;
                    report(record, "running", null);
                }
            }
            case INCOMING, MIGRATED -> { }
        }
    }

    private Guest adoptOrStart(VmRecord record) throws IOException, InterruptedException {
        String name = record.name();
        VmFiles files = files(name);
        if (Files.exists(files.pidFile())) {
            try {
                Guest adopted = track(QemuProcess.adopt(name, files));
                LOG.info("VM {}: adopted the running QEMU {}", name, adopted.process.pid());
                event(name, "adopted QEMU " + adopted.process.pid() + " after an agent restart");
                return adopted;
            } catch (IOException notRunning) {
                LOG.debug("VM {}: nothing to adopt: {}", name, notRunning.getMessage());
                Files.deleteIfExists(files.pidFile());
            }
        }
        RestartPolicy policy = startPolicy(record);
        if (!policy.mayTryNow()) {
            return null; // the last try failed; the next one is not due yet
        }
        List<String> problems = StartCheck.problems(record.definition(), config.nodeName(), SYS_CLASS_NET);
        if (!problems.isEmpty()) {
            startFailed(record, String.join("; ", problems), null);
            return null;
        }
        if (policy.failures() == 0) {
            report(record, "starting", null); // a retry keeps showing why the last try failed
        }
        Guest guest;
        try {
            attachDisks(record, false);
            guest = track(QemuProcess.start(spec(record.definition()), files));
        } catch (IOException | RuntimeException e) {
            detachDisks(record); // a VM that did not start holds nothing
            startFailed(record, e.getMessage(), policy);
            return null;
        }
        starts.remove(name);
        event(name, "started QEMU " + guest.process.pid() + " (" + record.definition().memoryMib() + " MiB, "
            + record.definition().vcpus() + " vCPUs)");
        if (record.desired().equals("paused")) {
            guest.process.pause();
        }
        report(record, record.desired().equals("paused") ? "paused" : "running", null);
        return guest;
    }

    /** The start tries of this VM since it was last asked to run (a new generation starts afresh). */
    private RestartPolicy startPolicy(VmRecord record) {
        StartTries tries = starts.get(record.name());
        if (tries == null || tries.generation() != record.generation()) {
            tries = new StartTries(record.generation(), RestartPolicy.standard(clock));
            starts.put(record.name(), tries);
        }
        return tries.policy();
    }

    /**
     * A start failed: tried again later, or (when the policy gives up, or {@code policy} is null for a
     * failure no retry can mend) the VM is failed with the reason, stopped and holds nothing.
     */
    private void startFailed(VmRecord record, String reason, RestartPolicy policy) {
        String name = record.name();
        RestartPolicy.Decision decision = policy == null ? new RestartPolicy.Decision.GiveUp(1, reason) : policy.failed(reason);
        switch (decision) {
            case RestartPolicy.Decision.RetryAt retry -> {
                long seconds = Math.max(1, Duration.between(clock.instant(), retry.at()).toSeconds());
                LOG.warn("VM {}: start {} failed, trying again in {} s: {}", name, retry.failures(), seconds, reason);
                event(name, "start " + retry.failures() + " failed, trying again in " + seconds + " s: " + reason);
                report(record, "starting", "start " + retry.failures() + " failed (trying again in " + seconds + " s): " + reason);
            }
            case RestartPolicy.Decision.GiveUp given -> {
                String why = given.failures() > 1 ? "failed to start " + given.failures() + " times: " + reason : reason;
                LOG.warn("VM {}: cannot start on {}: {}", name, config.nodeName(), why);
                event(name, "cannot start: " + why);
                try {
                    submit(new SetVmDesired(name, "stopped", null));
                } catch (RuntimeException e) {
                    LOG.warn("VM {}: could not mark it stopped: {}", name, e.getMessage());
                }
                report(record, "failed", why);
            }
        }
    }

    private Guest track(QemuProcess process) {
        var guest = new Guest(process);
        guests.put(process.name(), guest);
        process.qmp().addEventListener(event -> onEvent(guest, event));
        return guest;
    }

    private void onEvent(Guest guest, QmpEvent event) {
        switch (event.name()) {
            case "BLOCK_IO_ERROR" -> {
                String node = event.data().path("node-name").asText(event.data().path("device").asText(""));
                String volume = volumeOfNode(guest.process.name(), node);
                String errno = event.data().path("nospace").asBoolean(false) ? "ENOSPC"
                    : event.data().path("reason").asText("EIO");
                guest.ioError = "io-error: " + errno + " on " + volume;
                event(guest.process.name(), guest.ioError + " (" + event.data().path("operation").asText("") + ")");
            }
            case "STOP", "RESUME", "SHUTDOWN", "GUEST_PANICKED" -> event(guest.process.name(), "QEMU event " + event.name());
            default -> { }
        }
        if (running && !event.name().startsWith("MIGRATION")) {
            reconciler.execute(this::reconcileAll);
        }
    }

    private String volumeOfNode(String vm, String node) {
        Optional<VmRecord> record = cluster.store().read(s -> s.vms().vm(vm));
        if (record.isPresent() && node.startsWith("disk")) {
            try {
                int index = Integer.parseInt(node.substring(4));
                return record.get().definition().disks().get(index).volume();
            } catch (RuntimeException e) {
                return node;
            }
        }
        return node;
    }

    private void handleCrash(VmRecord record, Guest guest, String why) throws IOException, InterruptedException {
        String name = record.name();
        event(name, why + "; on_crash=" + record.definition().onCrash());
        LOG.warn("VM {}: {}", name, why);
        switch (record.definition().onCrash()) {
            case "preserve" -> report(record, "crashed", why + " (preserved for inspection)");
            case "destroy" -> {
                guests.remove(name);
                guest.process.close();
                detachDisks(record);
                submit(new SetVmDesired(name, "stopped", null));
                report(record, "crashed", why);
            }
            default -> {
                if (guest.crashes == null) {
                    guest.crashes = RestartPolicy.crashes(clock, MAX_RESTARTS, RESTART_WINDOW);
                }
                if (guest.crashes.failed(why) instanceof RestartPolicy.Decision.GiveUp) {
                    guests.remove(name);
                    guest.process.close();
                    detachDisks(record);
                    submit(new SetVmDesired(name, "stopped", null));
                    report(record, "crashed", why + "; restarted " + MAX_RESTARTS + " times within a minute, left stopped");
                    return;
                }
                guest.process.close();
                guests.remove(name);
                Guest again = track(QemuProcess.start(spec(record.definition()), files(name)));
                again.crashes = guest.crashes;
                event(name, "restarted after: " + why);
                report(record, "running", "restarted after: " + why);
            }
        }
    }

    private void stopGuest(VmRecord record, Guest guest, boolean force) throws InterruptedException {
        String name = record.name();
        guests.remove(name);
        if (force) {
            guest.process.kill();
        } else {
            guest.process.stop(STOP_GRACE);
        }
        event(name, force ? "QEMU killed" : "stopped");
        detachDisks(record);
        if (config.nodeName().equals(record.node())) {
            report(record, "stopped", null);
        }
    }

    private void resume(Guest guest) throws InterruptedException {
        try {
            guest.process.resume();
            guest.ioError = null;
        } catch (QmpException e) {
            LOG.warn("VM {}: cont failed: {}", guest.process.name(), e.getMessage());
        }
    }

    private void report(VmRecord record, String phase, String detail) {
        String key = phase + "|" + detail;
        if (key.equals(reported.get(record.name())) && phase.equals(record.phase())) {
            return;
        }
        try {
            Result result = cluster.store().submitAndWait(new ReportVmStatus(record.name(), config.nodeName(), phase, detail));
            if (result.applied()) {
                reported.put(record.name(), key);
            }
        } catch (RuntimeException e) {
            LOG.warn("VM {}: cannot report {}: {}", record.name(), phase, e.getMessage());
        }
    }

    private void submit(Command command) {
        Result result = cluster.store().submitAndWait(command);
        if (result instanceof Result.Rejected rejected) {
            throw new IllegalStateException(rejected.message());
        }
    }

    // ---- disks and the QEMU spec ----

    private void attachDisks(VmRecord record, boolean shared) {
        for (VmDefinition.VmDisk disk : record.definition().disks()) {
            String[] parts = disk.volume().split("/", 2);
            volumes.attach(parts[0], parts[1], config.nodeName(), shared || disk.readOnly(), false);
        }
    }

    private void detachDisks(VmRecord record) {
        for (VmDefinition.VmDisk disk : record.definition().disks()) {
            String[] parts = disk.volume().split("/", 2);
            try {
                boolean attachedHere = cluster.store().read(s -> s.volumes().volume(disk.volume())
                    .map(v -> v.attachment(config.nodeName()).isPresent()).orElse(false));
                if (attachedHere) {
                    volumes.detach(parts[0], parts[1], config.nodeName());
                }
            } catch (RuntimeException e) {
                LOG.warn("VM {}: could not detach {}: {}", record.name(), disk.volume(), e.getMessage());
            }
        }
    }

    VmSpec spec(VmDefinition d) {
        Boot boot = d.boot() == null || d.boot().fromDisk() ? new Boot.FromDisk()
            : new Boot.Kernel(Path.of(d.boot().kernel()), d.boot().initrd() == null ? null : Path.of(d.boot().initrd()),
                d.boot().commandLine());
        var disks = new ArrayList<DiskSpec>();
        for (VmDefinition.VmDisk disk : d.disks()) {
            disks.add(new DiskSpec(new DiskSource.NbdUnix(config.nbdSocket(), disk.volume()),
                DiskBus.valueOf(disk.bus().toUpperCase(Locale.ROOT)), CacheMode.valueOf(disk.cache().toUpperCase(Locale.ROOT)),
                disk.readOnly()));
        }
        var nics = new ArrayList<NicSpec>();
        for (VmDefinition.VmNic nic : d.nics()) {
            NicSpec.Network network = nic.network().startsWith("bridge:") ? new NicSpec.Network.Bridge(nic.network().substring(7))
                : nic.network().startsWith("tap:") ? new NicSpec.Network.Tap(nic.network().substring(4))
                : new NicSpec.Network.User();
            nics.add(new NicSpec(nic.mac(), network));
        }
        return new VmSpec(d.name(), d.memoryMib(), d.vcpus(), boot, disks, nics);
    }

    // ---- operations asked of this node ----

    /** Kills the VM's QEMU here at once (vm stop --force). */
    public void kill(String name) throws InterruptedException {
        Guest guest = guests.get(name);
        VmRecord record = cluster.store().read(s -> s.vms().require(name));
        if (guest != null) {
            stopGuest(record, guest, true);
        }
    }

    /** Continues a guest paused here (after an I/O error, once space was added). */
    public void cont(String name) throws InterruptedException {
        Guest guest = guests.get(name);
        if (guest == null) {
            throw ApiException.conflict("VM '" + name + "' does not run on " + config.nodeName());
        }
        resume(guest);
        event(name, "resumed by request");
        reconciler.execute(this::reconcileAll);
    }

    /** The last {@code bytes} of the guest's serial console. */
    public String console(String name, int bytes) {
        return tail(files(name).serialLog(), bytes);
    }

    /** What happened to the VM on this node, and QEMU's own messages. */
    public String log(String name, int bytes) {
        return tail(directory(name).resolve("events.log"), bytes) + tail(files(name).qemuLog(), bytes);
    }

    static String tail(Path file, int bytes) {
        try (var channel = java.nio.channels.FileChannel.open(file)) {
            long size = channel.size();
            long from = Math.max(0, size - bytes);
            var buffer = java.nio.ByteBuffer.allocate((int) (size - from));
            channel.read(buffer, from);
            return new String(buffer.array(), StandardCharsets.UTF_8);
        } catch (java.nio.file.NoSuchFileException e) {
            return "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void event(String vm, String what) {
        try {
            Files.createDirectories(directory(vm));
            Files.writeString(directory(vm).resolve("events.log"), Instant.now() + " " + config.nodeName() + ": " + what + "\n",
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            LOG.debug("VM {}: cannot log '{}': {}", vm, what, e.getMessage());
        }
    }

    // ---- live migration: destination side ----

    /**
     * Starts a paused QEMU here waiting for the VM's state; answers the URI the source sends it to
     * and how long each part took. The source asks for this while its 'begin' is being committed:
     * QEMU starts at once (its NBD connections wait in the handshake for the exports, at most
     * {@link #ATTACH_PATIENCE}) while the volumes attach shared, and the answer waits until the
     * store says the VM migrates here. An abort meanwhile, or no 'begin' within
     * {@link #BEGIN_PATIENCE}, undoes it all.
     */
    public synchronized Map<String, Object> prepareIncoming(String name) throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        abandonedIncoming.remove(name);
        VmRecord record = cluster.store().read(s -> s.vms().require(name));
        if (config.nodeName().equals(record.node())) {
            throw ApiException.conflict("VM '" + name + "' runs on " + config.nodeName() + " already");
        }
        Guest existing = guests.get(name);
        if (existing != null && !existing.incoming) {
            throw ApiException.conflict("VM '" + name + "' has a QEMU running on " + config.nodeName()
                + " that is not waiting for a migration; stop it first ('nines vm stop " + name + "')");
        }
        if (existing != null) {
            guests.remove(name);
            existing.process.kill(); // a QEMU left waiting by an earlier attempt
        }
        detachIncoming(name); // whatever an earlier attempt attached goes with its QEMU
        int port;
        try (var socket = new ServerSocket(0, 1, java.net.InetAddress.getByName(config.listenHost()))) {
            port = socket.getLocalPort();
        }
        String host = config.nbdAddress().substring(0, config.nbdAddress().lastIndexOf(':'));
        VmFiles files = files(name);
        Files.deleteIfExists(files.pidFile());
        List<String> paths = record.definition().disks().stream().map(VmDefinition.VmDisk::volume).distinct().toList();
        // an undo takes away only what this attempt attached: never a volume this node held before
        List<String> held = attachedOn(record, config.nodeName());
        incomingAttached.put(name, paths.stream().filter(path -> !held.contains(path)).toList());
        paths.forEach(path -> volumes.expect(path, ATTACH_PATIENCE));
        long[] marks = new long[2];
        var attach = CompletableFuture.runAsync(() -> {
            try {
                // shared attachments are harmless before 'begin': this QEMU waits paused (-S) for the state and
                // writes nothing until the switch-over; if 'begin' never comes, everything here is undone
                attachDisks(record, true);
                marks[0] = System.nanoTime();
            } finally {
                paths.forEach(volumes::unexpect); // whatever did not come will not: waiting handshakes fail now
            }
            awaitBegin(name);
            marks[1] = System.nanoTime();
        }, task -> Thread.ofVirtual().name("incoming-attach-" + name).start(task));
        QemuProcess process = null;
        try {
            process = QemuProcess.startIncomingPaused(spec(record.definition()), files,
                new IncomingMigration.Tcp(config.listenHost(), port));
            attach.join();
            if (abandonedIncoming.remove(name) != null) {
                throw ApiException.conflict("the incoming migration of VM '" + name + "' was abandoned by its source");
            }
        } catch (IOException | RuntimeException e) {
            if (process != null) {
                process.kill();
            }
            Throwable attachFailure = attach.handle((ok, error) -> error).join();
            detachIncoming(name);
            if (attachFailure != null) {
                // QEMU failed because its exports never came: the attach's own error says why
                Throwable why = attachFailure.getCause() != null ? attachFailure.getCause() : attachFailure;
                if (why instanceof RuntimeException r) {
                    throw r;
                }
                throw new IOException(why.getMessage(), why);
            }
            throw e;
        }
        long t1 = System.nanoTime();
        Guest guest = track(process);
        guest.incoming = true;
        event(name, "waiting for an incoming migration on port " + port);
        var answer = new LinkedHashMap<String, Object>();
        answer.put("uri", new IncomingMigration.Tcp(host, port).uri());
        answer.put("attachMillis", (marks[0] - t0) / 1_000_000);
        answer.put("beginSeenMillis", (marks[1] - t0) / 1_000_000);
        answer.put("qemuMillis", (t1 - t0) / 1_000_000);
        return answer;
    }

    /** Waits until this replica has applied the source's 'begin' naming this node (a local read: it is committed then). */
    private void awaitBegin(String name) {
        long deadline = System.nanoTime() + BEGIN_PATIENCE.toNanos();
        while (true) {
            VmRecord record = cluster.store().read(s -> s.vms().require(name));
            if (config.nodeName().equals(record.migratingTo())) {
                return;
            }
            if (abandonedIncoming.containsKey(name)) {
                throw ApiException.conflict("the incoming migration of VM '" + name + "' was abandoned by its source");
            }
            if (System.nanoTime() > deadline) {
                throw ApiException.conflict("VM '" + name + "' is not migrating to " + config.nodeName()
                    + " (no 'begin' in the store within " + BEGIN_PATIENCE.toSeconds() + " s)");
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw ApiException.conflict("interrupted while waiting for the migration of '" + name + "' to begin");
            }
        }
    }

    /** The state has arrived: the disks catch up with what the source wrote last, then the guest runs here. */
    public Map<String, Object> completeIncoming(String name) throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        Guest guest = guests.get(name);
        if (guest == null || !guest.incoming) {
            throw ApiException.conflict("VM '" + name + "' has no incoming migration here");
        }
        // the disks are those of the definition read when the migration began (they cannot change meanwhile);
        // each refresh reads the volume linearizably, so it sees every mapping the source committed
        VmRecord record = cluster.store().read(s -> s.vms().require(name));
        for (VmDefinition.VmDisk disk : record.definition().disks()) {
            volumes.refresh(disk.volume());
        }
        long t1 = System.nanoTime();
        try {
            guest.process.resume();
        } catch (QmpException e) {
            throw new IOException("VM " + name + ": the destination would not continue: " + e.getMessage(), e);
        }
        long t2 = System.nanoTime();
        // it stays marked incoming until the store places the VM here, so nothing here stops it meanwhile
        event(name, "running here after a live migration");
        return Map.of("refreshMillis", (t1 - t0) / 1_000_000, "contMillis", (t2 - t1) / 1_000_000);
    }

    /**
     * The migration failed: the QEMU waiting here goes, and so do its attachments. A preparation
     * still under way sees the mark, and undoes itself.
     */
    public void abortIncoming(String name) throws InterruptedException {
        abandonedIncoming.put(name, Boolean.TRUE);
        Guest guest = guests.get(name);
        if (guest != null && guest.incoming) {
            guests.remove(name);
            guest.process.kill();
            event(name, "incoming migration abandoned");
        }
        detachIncoming(name);
    }

    /** Detaches here what the latest incoming migration of {@code name} attached (and nothing this node held before). */
    private void detachIncoming(String name) {
        List<String> attached = incomingAttached.remove(name);
        if (attached == null) {
            return;
        }
        for (String volume : attached) {
            String[] parts = volume.split("/", 2);
            try {
                boolean here = cluster.store().read(s -> s.volumes().volume(volume)
                    .map(v -> v.attachment(config.nodeName()).isPresent()).orElse(false));
                if (here) {
                    volumes.detach(parts[0], parts[1], config.nodeName());
                }
            } catch (RuntimeException e) {
                LOG.warn("VM {}: could not detach {}: {}", name, volume, e.getMessage());
            }
        }
    }

    // ---- live migration: source side ----

    /** Where a migration started here stands. */
    public static final class Migration {
        final String vm;
        final String destination;
        final Instant started = Instant.now();
        volatile String state = "preparing";
        volatile MigrationProgress progress;
        volatile MigrationResult result;
        volatile String error;
        volatile Duration total;
        volatile Duration switchover;
        volatile Duration qemuStarted;
        final Map<String, Long> steps = new java.util.concurrent.ConcurrentSkipListMap<>();
        private long mark = System.nanoTime();
        private int step;
        private int detail;

        /** Records how long the step just finished took. */
        void step(String what) {
            long now = System.nanoTime();
            steps.put(++step + "-" + what, (now - mark) / 1_000_000);
            mark = now;
            detail = 0;
        }

        /** Records a part of the last step (measured elsewhere, such as on the destination). */
        void detail(String what, long millis) {
            steps.put(step + "." + ++detail + "-" + what, millis);
        }

        Migration(String vm, String destination) {
            this.vm = vm;
            this.destination = destination;
        }

        public Map<String, Object> describe() {
            var map = new LinkedHashMap<String, Object>();
            map.put("vm", vm);
            map.put("destination", destination);
            map.put("state", state);
            if (progress != null) {
                map.put("percent", progress.percent());
                map.put("transferredBytes", progress.transferredBytes());
                map.put("remainingBytes", progress.remainingBytes());
                map.put("totalBytes", progress.totalBytes());
                map.put("passes", progress.passes());
            }
            map.put("elapsedMillis", Duration.between(started, Instant.now()).toMillis());
            if (result != null) {
                map.put("qemuTotalMillis", result.totalTime().toMillis());
                map.put("qemuDowntimeMillis", result.downtime().toMillis());
            }
            if (qemuStarted != null) {
                map.put("destinationReadyMillis", qemuStarted.toMillis());
            }
            if (switchover != null) {
                map.put("switchoverMillis", switchover.toMillis());
            }
            if (total != null) {
                map.put("totalMillis", total.toMillis());
                if (result != null) {
                    map.put("overheadMillis", total.toMillis() - result.totalTime().toMillis());
                }
            }
            map.put("stepMillis", Map.copyOf(steps));
            map.put("error", error);
            return map;
        }
    }

    private final Map<String, Migration> finished = new ConcurrentHashMap<>();

    public Optional<Map<String, Object>> migrationStatus(String name) {
        Migration m = migrations.get(name);
        if (m == null) {
            m = finished.get(name);
        }
        return Optional.ofNullable(m).map(Migration::describe);
    }

    /**
     * Refuses a definition that cannot start where it will run, when that is known to be this node: the only
     * node of the cluster that runs VMs (as with 'nines up'). Elsewhere the node chosen at start checks it.
     */
    public void requireStartable(VmDefinition definition) {
        List<Node> hosts = cluster.store().read(s -> s.membership().snapshot().nodes().stream().filter(n -> !n.witness()).toList());
        if (hosts.size() != 1 || !hosts.getFirst().name().equals(config.nodeName())) {
            return;
        }
        List<String> problems = StartCheck.problems(definition, config.nodeName(), SYS_CLASS_NET);
        if (!problems.isEmpty()) {
            throw ApiException.badRequest("VM '" + definition.name() + "' could not start: " + String.join("; ", problems));
        }
    }

    /** Refuses (before anything starts anywhere) a migration that cannot be tried, such as one to the node the VM runs on. */
    public void requireMigratable(VmRecord record, String destination) {
        Optional<Node> node = destination == null ? Optional.empty()
            : cluster.store().read(s -> s.membership().node(destination));
        Optional<ApiException> refusal = MigrationRefusal.of(record, destination, node);
        if (refusal.isPresent()) {
            throw refusal.get();
        }
    }

    /** Starts migrating a VM running here to {@code destination}; returns at once (progress via {@link #migrationStatus}). */
    public Map<String, Object> migrate(String name, String destination, boolean wait) throws InterruptedException {
        VmRecord record = cluster.store().readLinearizable(s -> s.vms().require(name));
        requireMigratable(record, destination);
        if (!config.nodeName().equals(record.node()) || !guests.containsKey(name)) {
            throw ApiException.conflict("VM '" + name + "' does not run on " + config.nodeName());
        }
        var migration = new Migration(name, destination);
        if (migrations.putIfAbsent(name, migration) != null) {
            throw ApiException.conflict("VM '" + name + "' is migrating already");
        }
        finished.remove(name);
        Thread thread = Thread.ofVirtual().name("migrate-" + name).start(() -> runMigration(record, migration));
        if (wait) {
            thread.join();
        }
        return migration.describe();
    }

    private void runMigration(VmRecord record, Migration migration) {
        String name = record.name();
        String destination = migration.destination;
        long started = System.nanoTime();
        Guest guest = guests.get(name);
        // what the destination held before this attempt is not this attempt's to undo
        List<String> attachedBefore = attachedOn(record, destination);
        boolean begun = false;
        boolean handedOver = false;
        boolean destinationAttached = false;
        boolean destinationStarted = false;
        try {
            migration.state = "starting QEMU on " + destination + ", attaching disks there";
            // the destination starts QEMU while 'begin' is committed, then attaches the volumes (shared: both
            // nodes hold them until the switch); it waits for 'begin' to reach its replica before attaching
            destinationAttached = true;
            AgentClient peer = peer(destination);
            var prepare = CompletableFuture.supplyAsync(
                () -> peer.post("/v1/vms/" + AgentClient.encode(name) + "/incoming", Map.of()),
                task -> Thread.ofVirtual().name("migrate-prepare-" + name).start(task));
            try {
                submit(new MigrateVm(name, destination, "begin"));
            } catch (RuntimeException refused) {
                try {
                    peer.post("/v1/vms/" + AgentClient.encode(name) + "/incoming/abort", Map.of());
                } catch (RuntimeException ignored) {
                    LOG.debug("VM {}: the destination could not be told to abort", name);
                }
                prepare.handle((ok, error) -> null).join();
                throw refused;
            }
            begun = true;
            migration.step("begin");
            event(name, "live migration to " + destination + " begins");
            JsonNode prepared;
            try {
                prepared = prepare.join();
            } catch (java.util.concurrent.CompletionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : e;
            }
            String uri = prepared.path("uri").asText();
            destinationStarted = true;
            migration.qemuStarted = Duration.ofNanos(System.nanoTime() - started);
            migration.step("destination");
            migration.detail("attach", prepared.path("attachMillis").asLong());
            migration.detail("begin-seen", prepared.path("beginSeenMillis").asLong());
            migration.detail("qemu-start", prepared.path("qemuMillis").asLong());
            migration.state = "migrating";
            MigrationResult result = LiveMigration.migrate(guest.process.qmp(), null, uri,
                MigrationOptions.defaults().withTimeout(Duration.ofMinutes(10)), p -> migration.progress = p);
            migration.result = result;
            migration.step("qemu");
            long handover = System.nanoTime();
            migration.state = "switching over";
            JsonNode switched = peer(destination).post("/v1/vms/" + AgentClient.encode(name) + "/incoming/complete", Map.of());
            migration.switchover = Duration.ofNanos(System.nanoTime() - handover);
            migration.step("switchover");
            migration.detail("refresh", switched.path("refreshMillis").asLong());
            migration.detail("cont", switched.path("contMillis").asLong());
            handedOver = true; // the guest runs at the destination now: from here on nothing is rolled back
            completeInStore(name, destination);
            migration.step("complete");
            migration.total = Duration.ofNanos(System.nanoTime() - started);
            migration.state = "completed";
            event(name, "migrated to " + destination + " in " + migration.total.toMillis() + " ms (QEMU downtime "
                + result.downtime().toMillis() + " ms)");
            // the source lets go: its QEMU ends and its attachments go, which moves the volumes' epochs on
            guests.remove(name);
            guest.process.stop(Duration.ofSeconds(2));
            detachDisks(record);
            reported.remove(name);
            migration.step("cleanup");
        } catch (Exception e) {
            String why = e instanceof MigrationFailedException m ? m.getMessage() : e.getMessage();
            migration.error = why;
            if (handedOver) {
                // the destination's QEMU runs the guest: undoing anything now would run it twice or take its disks
                migration.state = "completed";
                migration.error = "after the switch-over: " + why;
                LOG.error("VM {}: runs on {} but the migration could not be finished: {}; the source's QEMU stays"
                    + " stopped", name, destination, why);
                event(name, "runs on " + destination + " after the switch-over, but finishing failed: " + why);
                return;
            }
            migration.state = "failed";
            LOG.warn("VM {}: migration to {} failed: {}", name, destination, why);
            event(name, "migration to " + destination + " failed, the VM stays here: " + why);
            boolean aborted = false;
            if (destinationStarted) {
                try {
                    peer(destination).post("/v1/vms/" + AgentClient.encode(name) + "/incoming/abort", Map.of());
                    aborted = true;
                } catch (RuntimeException ignored) {
                    LOG.debug("VM {}: the destination could not be told to abort", name);
                }
            }
            if (destinationAttached && !aborted && !destination.equals(config.nodeName())) {
                // the destination may have attached some before it failed; it cannot be asked: the store can
                for (String volume : attachedOn(record, destination)) {
                    if (attachedBefore.contains(volume)) {
                        continue;
                    }
                    String[] parts = volume.split("/", 2);
                    try {
                        volumes.detach(parts[0], parts[1], destination);
                    } catch (RuntimeException ignored) {
                        LOG.warn("VM {}: could not detach {} from {}: {}", name, volume, destination, ignored.getMessage());
                    }
                }
            }
            if (begun) {
                try {
                    submit(new MigrateVm(name, destination, "abort"));
                } catch (RuntimeException ignored) {
                    LOG.warn("VM {}: could not clear the migration mark: {}", name, ignored.getMessage());
                }
            }
            if (guest != null) {
                try {
                    if (guest.process.status().phase() == VmPhase.PAUSED || guest.process.status().phase() == VmPhase.MIGRATED) {
                        guest.process.resume();
                    }
                } catch (Exception resumeFailed) {
                    LOG.warn("VM {}: could not resume the source: {}", name, resumeFailed.getMessage());
                }
            }
        } finally {
            migrations.remove(name);
            finished.put(name, migration);
            if (running) {
                reconciler.execute(this::reconcileAll);
            }
        }
    }

    /** Commits 'complete', trying again for a while: the guest already runs at the destination. */
    private void completeInStore(String name, String destination) throws InterruptedException {
        for (int attempt = 1; ; attempt++) {
            try {
                if (attempt > 1 && cluster.store().readLinearizable(s -> s.vms().vm(name))
                        .map(vm -> destination.equals(vm.node())).orElse(false)) {
                    return; // the earlier attempt was applied after all
                }
                submit(new MigrateVm(name, destination, "complete"));
                return;
            } catch (RuntimeException e) {
                if (attempt >= 5 || e instanceof IllegalStateException) {
                    throw e;
                }
                LOG.warn("VM {}: committing the migration's completion failed (attempt {}): {}", name, attempt, e.getMessage());
                Thread.sleep(Duration.ofSeconds(attempt));
            }
        }
    }

    /** The VM's volumes that the store says are attached on {@code node}. */
    private List<String> attachedOn(VmRecord record, String node) {
        return cluster.store().read(st -> record.definition().disks().stream().map(VmDefinition.VmDisk::volume).distinct()
            .filter(volume -> st.volumes().volume(volume).map(v -> v.attachment(node).isPresent()).orElse(false))
            .toList());
    }

    private AgentClient peer(String node) {
        Node member = cluster.store().read(s -> s.membership().node(node)).orElseThrow(() -> ApiException.notFound(
            "no node '" + node + "'"));
        String url = fivenines.agent.AgentConfig.apiUrlOf(member.apiAddress());
        String secret = credentials.secret();
        // one client (and its kept-alive connections) per peer: a new one costs a connection and a selector thread
        return peers.compute(node, (n, known) -> known != null && known.baseUrl().equals(url) && known.token().equals(secret)
            ? known : cluster.client(member.apiAddress(), secret, Duration.ofSeconds(60)));
    }

    /** For the API: a client of the agent on {@code node}, to forward what only that node can do. */
    public AgentClient client(String node) {
        return peer(node);
    }
}
