package fivenines.agent.vm;

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
import fivenines.model.command.RecoverVm;
import fivenines.model.command.RemoveNode;
import fivenines.model.command.RemoveVm;
import fivenines.model.command.ReportNodeResources;
import fivenines.model.command.SetVmDesired;
import fivenines.model.command.SetVmHa;
import fivenines.model.state.Result;
import fivenines.model.vm.VmDefinition;
import fivenines.model.vm.VmRecord;
import fivenines.store.ClusterStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The VM service of this node: the face the plugin and the API see. The work is in its parts:
 * {@link VmController} makes the QEMU processes here match the store (with {@link RestartPolicy}
 * and {@link CrashResponse} deciding retries and crashes), {@link QemuSpecs} says what QEMU is
 * started with, {@link MigrationSource} and {@link MigrationDestination} carry out both sides of
 * a live migration, and {@link NodeGuests} holds what they share.
 */
public final class VmService {
    private static final Logger LOG = LoggerFactory.getLogger(VmService.class);
    private static final Duration POLL = Duration.ofSeconds(2);

    private final AgentConfig config;
    private final ClusterService cluster;
    private final NodeGuests node;
    private final PeerAgents peers;
    private final MigrationSource outgoing;
    private final MigrationDestination incoming;
    private final VmController controller;
    private Thread poller;
    /** Whether the store has this node's memory and CPUs (placement treats a node without them as unbounded). */
    private volatile boolean resourcesReported;

    public VmService(AgentConfig config, ClusterService cluster, Credentials credentials, VolumeService volumes) {
        this.config = config;
        this.cluster = cluster;
        this.node = new NodeGuests(config, cluster, volumes);
        this.peers = new PeerAgents(cluster, credentials);
        this.outgoing = new MigrationSource(node, peers);
        this.incoming = new MigrationDestination(node);
        this.controller = new VmController(node, outgoing, incoming, InstantSource.system());
        node.onReconcile(controller::reconcileAll);
        cluster.onStoreStarted(this::watch);
    }

    private void watch(ClusterStore store) {
        store.addListener((index, command, result, state) -> {
            if (result instanceof Result.Applied && isVmCommand(command)) {
                node.requestReconcile();
            }
        });
        if (node.running) {
            node.onReconciler(this::firstReconcile);
        }
    }

    /**
     * Whether an applied command may change what this node should run, so the reconciler looks at
     * once instead of at its next poll: a VM recovered onto a survivor starts as soon as its
     * placement is applied (it waited up to {@link #POLL} before, a second of every failover).
     */
    static boolean isVmCommand(Command command) {
        return command instanceof DefineVm || command instanceof RemoveVm || command instanceof SetVmDesired
            || command instanceof MigrateVm || command instanceof RemoveNode || command instanceof SetVmHa
            || (command instanceof RecoverVm recover && recover.to() != null);
    }

    public void start() {
        node.running = true;
        if (cluster.inCluster()) {
            node.onReconciler(this::firstReconcile);
        }
        poller = Thread.ofVirtual().name("vm-poll").start(() -> {
            while (node.running) {
                try {
                    Thread.sleep(POLL);
                } catch (InterruptedException e) {
                    return;
                }
                if (cluster.inCluster()) {
                    if (!resourcesReported) {
                        node.onReconciler(this::reportResources); // the first try can come before this node was admitted
                    }
                    node.requestReconcile();
                }
            }
        });
    }

    private void firstReconcile() {
        reportResources();
        controller.reconcileAll();
    }

    /** Lets go of the QEMU processes without stopping them: a restarted agent adopts them. */
    public void stop() {
        node.running = false;
        if (poller != null) {
            poller.interrupt();
        }
        for (Guest guest : node.guests.values()) {
            guest.process.detach();
        }
        node.guests.clear();
    }

    public Path directory(String vm) {
        return node.directory(vm);
    }

    private void reportResources() {
        try {
            long memoryMib = memoryForGuests();
            int cpus = Runtime.getRuntime().availableProcessors();
            resourcesReported = cluster.store().submitAndWait(new ReportNodeResources(config.nodeName(), memoryMib, cpus))
                .applied();
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

    // ---- high availability ----

    /** Whether this node holds its lease: a VM with HA on starts here only then. */
    public void leaseHeld(java.util.function.BooleanSupplier held) {
        controller.leaseHeld(held);
    }

    /**
     * Self-fencing: this node lost its lease, so its HA guests may be started elsewhere soon. Kills
     * their QEMUs at once (no shutdown: there is no time, and a guest that goes on writing would be
     * a second writer). Nothing is reported: the store may be out of reach. Returns the VMs killed.
     */
    public List<String> killHaGuests(String why) {
        var killed = new java.util.ArrayList<String>();
        for (var entry : List.copyOf(node.guests.entrySet())) {
            String name = entry.getKey();
            Guest guest = entry.getValue();
            boolean ha = cluster.store().read(s -> s.vms().vm(name).map(v -> v.definition().ha()).orElse(false));
            if (!ha || guest.incoming) {
                continue;
            }
            node.guests.remove(name);
            try {
                guest.process.kill();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            node.forgetReport(name);
            node.event(name, "QEMU killed: this node lost its lease (" + why + ")");
            LOG.warn("VM {}: QEMU killed: this node lost its lease ({})", name, why);
            killed.add(name);
        }
        return killed;
    }

    /** The VMs with HA on whose QEMU runs here. */
    public List<String> haGuests() {
        return node.guests.keySet().stream().filter(name -> cluster.store().read(s -> s.vms().vm(name)
            .map(v -> v.definition().ha()).orElse(false))).sorted().toList();
    }

    // ---- operations asked of this node ----

    /**
     * Kills the VM's QEMU here at once (vm stop --force), also one a graceful stop is waiting for.
     * The caller has committed the VM's desired state as stopped first: a guest killed while it is
     * still wanted running is a crash, and the reconciler would start it again. The reconciler then
     * ends the stop (disks detached, phase reported); this does not wait for its lock, which a
     * graceful stop holds for up to its grace.
     */
    public void kill(String name) throws InterruptedException {
        // A forced stop commits STOPPED on the replica it was asked on, then asks here. This replica may
        // not have applied it yet, and a QEMU that dies while its VM is still wanted running here is a
        // crash, restarted at once (a new QEMU, a new console; seen as a guest that came back). A
        // linearizable read first applies here everything committed before the request.
        cluster.store().readLinearizable(s -> s.vms().vm(name));
        Guest guest = node.guests.get(name);
        if (guest == null) {
            guest = node.stopping.get(name);
        }
        if (guest != null) {
            guest.process.kill();
            node.event(name, "QEMU " + guest.process.pid() + " killed by request");
        }
        node.requestReconcile();
    }

    /** Continues a guest paused here (after an I/O error, once space was added). */
    public void cont(String name) throws InterruptedException {
        Guest guest = node.guests.get(name);
        if (guest == null) {
            throw ApiException.conflict("VM '" + name + "' does not run on " + config.nodeName());
        }
        controller.resume(guest);
        node.event(name, "resumed by request");
        node.onReconciler(controller::reconcileAll);
    }

    /** The last {@code bytes} of the guest's serial console. */
    public String console(String name, int bytes) {
        return tail(node.files(name).serialLog(), bytes);
    }

    /**
     * The guest's serial console from byte {@code from} on (at most {@code most} bytes), for a
     * follower that asks again from {@link ConsoleChunk#end()}. A negative {@code from}, or one
     * past the end (a new QEMU began a new file), starts at the last {@code most} bytes.
     */
    public ConsoleChunk consoleFrom(String name, long from, int most) {
        Path file = node.files(name).serialLog();
        try (var channel = java.nio.channels.FileChannel.open(file)) {
            long size = channel.size();
            long start = from < 0 || from > size ? Math.max(0, size - most) : from;
            var buffer = java.nio.ByteBuffer.allocate((int) Math.min(most, size - start));
            while (buffer.hasRemaining() && channel.read(buffer, start + buffer.position()) > 0) {
                // read on until the buffer is full or the file ends
            }
            return new ConsoleChunk(start, start + buffer.position(), new String(buffer.array(), 0, buffer.position(),
                StandardCharsets.UTF_8));
        } catch (java.nio.file.NoSuchFileException e) {
            return new ConsoleChunk(0, 0, "");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A piece of a serial console file: bytes {@code start} to {@code end}. */
    public record ConsoleChunk(long start, long end, String text) {
    }

    /** Migrations started here: under way, and the last one of each VM. */
    public List<Map<String, Object>> migrations() {
        return outgoing.statuses();
    }

    /** What happened to the VM on this node, and QEMU's own messages. */
    public String log(String name, int bytes) {
        return tail(node.directory(name).resolve("events.log"), bytes) + tail(node.files(name).qemuLog(), bytes);
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

    /**
     * Refuses a definition that cannot start where it will run, when that is known to be this node: the only
     * node of the cluster that runs VMs (as with 'nines up'). Elsewhere the node chosen at start checks it.
     */
    public void requireStartable(VmDefinition definition) {
        List<Node> hosts = cluster.store().read(s -> s.membership().snapshot().nodes().stream().filter(n -> !n.witness()).toList());
        if (hosts.size() != 1 || !hosts.getFirst().name().equals(config.nodeName())) {
            return;
        }
        List<String> problems = StartCheck.problems(definition, config.nodeName(), Path.of("/sys/class/net"));
        if (!problems.isEmpty()) {
            throw ApiException.badRequest("VM '" + definition.name() + "' could not start: " + String.join("; ", problems));
        }
    }

    /** Refuses (before anything starts anywhere) a migration that cannot be tried, such as one to the node the VM runs on. */
    public void requireMigratable(VmRecord record, String destination) {
        outgoing.requireMigratable(record, destination);
    }

    /** Starts migrating a VM running here to {@code destination}; returns at once unless {@code wait} (progress via {@link #migrationStatus}). */
    public Map<String, Object> migrate(String name, String destination, boolean wait) throws InterruptedException {
        return outgoing.migrate(name, destination, wait);
    }

    public Optional<Map<String, Object>> migrationStatus(String name) {
        return outgoing.migrationStatus(name);
    }

    /** As a migration's destination: starts a paused QEMU here waiting for the VM's state (see {@link MigrationDestination}). */
    public Map<String, Object> prepareIncoming(String name) throws IOException, InterruptedException {
        return incoming.prepareIncoming(name);
    }

    /** As a migration's destination: the state has arrived; the disks catch up, then the guest runs here. */
    public Map<String, Object> completeIncoming(String name) throws IOException, InterruptedException {
        return incoming.completeIncoming(name);
    }

    /** As a migration's destination: the migration failed; the QEMU waiting here goes, and its attachments. */
    public void abortIncoming(String name) throws InterruptedException {
        incoming.abortIncoming(name);
    }

    /** For the API: a client of the agent on {@code node}, to forward what only that node can do. */
    public AgentClient client(String node) {
        return peers.client(node);
    }
}
