package fivenines.agent.vm;

import fivenines.agent.AgentConfig;
import fivenines.agent.cluster.ClusterService;
import fivenines.agent.storage.VolumeService;
import fivenines.model.command.Command;
import fivenines.model.command.ReportVmStatus;
import fivenines.model.state.Result;
import fivenines.model.vm.GuestState;
import fivenines.model.vm.VmDefinition;
import fivenines.model.vm.VmRecord;
import fivenines.vm.qemu.QemuProcess;
import fivenines.vm.qemu.VmFiles;
import fivenines.vm.qemu.VmSpec;
import fivenines.vm.qmp.QmpEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * What the parts of the VM service on this node share: the QEMU processes it runs, the last
 * status each VM reported, the events log of each VM, its disks' attachments here, and the
 * single thread that reconciles. Reconciling and preparing an incoming migration hold this
 * object's monitor, so they never overlap.
 */
final class NodeGuests {
    private static final Logger LOG = LoggerFactory.getLogger(NodeGuests.class);
    final AgentConfig config;
    final ClusterService cluster;
    final VolumeService volumes;
    final Map<String, Guest> guests = new ConcurrentHashMap<>();
    /** Guests being stopped (out of {@link #guests}, QEMU not yet gone): 'vm stop --force' can still kill them. */
    final Map<String, Guest> stopping = new ConcurrentHashMap<>();
    private final Map<String, String> reported = new ConcurrentHashMap<>();
    private final ExecutorService reconciler = Executors.newSingleThreadExecutor(
        Thread.ofPlatform().daemon(true).name("vm-reconcile").factory());
    private volatile Runnable reconcile = () -> { };
    volatile boolean running;

    NodeGuests(AgentConfig config, ClusterService cluster, VolumeService volumes) {
        this.config = config;
        this.cluster = cluster;
        this.volumes = volumes;
    }

    String nodeName() {
        return config.nodeName();
    }

    void onReconcile(Runnable task) {
        this.reconcile = task;
    }

    /** Has the reconciler look at every VM again soon (never on the caller's thread). */
    void requestReconcile() {
        if (running) {
            reconciler.execute(reconcile);
        }
    }

    /** Runs {@code task} on the reconciler's thread. */
    void onReconciler(Runnable task) {
        reconciler.execute(task);
    }

    Path directory(String vm) {
        return config.dataDir().resolve("vms").resolve(vm);
    }

    VmFiles files(String vm) {
        return VmFiles.in(directory(vm));
    }

    VmSpec spec(VmDefinition definition) {
        return QemuSpecs.of(definition, config.nbdSocket());
    }

    Guest track(QemuProcess process) {
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
        if (!event.name().startsWith("MIGRATION")) {
            requestReconcile();
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

    /** Reports the VM's state to the store, unless it was the last report and the store shows it. */
    void report(VmRecord record, GuestState phase, String detail) {
        String key = phase + "|" + detail;
        if (key.equals(reported.get(record.name())) && phase == record.phase()) {
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

    /** The VM no longer runs here: its next report here is sent whatever it says. */
    void forgetReport(String vm) {
        reported.remove(vm);
    }

    void submit(Command command) {
        Result result = cluster.store().submitAndWait(command);
        if (result instanceof Result.Rejected rejected) {
            throw new IllegalStateException(rejected.message());
        }
    }

    void event(String vm, String what) {
        try {
            Files.createDirectories(directory(vm));
            Files.writeString(directory(vm).resolve("events.log"), Instant.now() + " " + config.nodeName() + ": " + what + "\n",
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            LOG.debug("VM {}: cannot log '{}': {}", vm, what, e.getMessage());
        }
    }

    // ---- disks ----

    void attachDisks(VmRecord record, boolean shared) {
        for (VmDefinition.VmDisk disk : record.definition().disks()) {
            String[] parts = disk.volume().split("/", 2);
            volumes.attach(parts[0], parts[1], config.nodeName(), shared || disk.readOnly(), false);
        }
    }

    void detachDisks(VmRecord record) {
        detachHere(record.name(), record.definition().disks().stream().map(VmDefinition.VmDisk::volume).toList());
    }

    /** Detaches from this node those of {@code volumes} that the store says are attached here. */
    void detachHere(String vm, List<String> paths) {
        for (String volume : paths) {
            String[] parts = volume.split("/", 2);
            try {
                boolean attachedHere = cluster.store().read(s -> s.volumes().volume(volume)
                    .map(v -> v.attachment(config.nodeName()).isPresent()).orElse(false));
                if (attachedHere) {
                    volumes.detach(parts[0], parts[1], config.nodeName());
                }
            } catch (RuntimeException e) {
                LOG.warn("VM {}: could not detach {}: {}", vm, volume, e.getMessage());
            }
        }
    }

    /** The VM's volumes that the store says are attached on {@code node}. */
    List<String> attachedOn(VmRecord record, String node) {
        return cluster.store().read(st -> record.definition().disks().stream().map(VmDefinition.VmDisk::volume).distinct()
            .filter(volume -> st.volumes().volume(volume).map(v -> v.attachment(node).isPresent()).orElse(false))
            .toList());
    }
}
