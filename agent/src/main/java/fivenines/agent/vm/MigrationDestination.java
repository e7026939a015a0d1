package fivenines.agent.vm;

import fivenines.agent.api.ApiException;
import fivenines.model.vm.VmDefinition;
import fivenines.model.vm.VmRecord;
import fivenines.vm.qemu.IncomingMigration;
import fivenines.vm.qemu.QemuProcess;
import fivenines.vm.qemu.VmFiles;
import fivenines.vm.qmp.QmpException;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The destination side of a live migration: a paused QEMU here waits for the VM's state while
 * the volumes attach shared; at the switch-over the disks catch up and the guest continues
 * here; an abort undoes what this attempt attached, and nothing this node held before.
 */
final class MigrationDestination {
    /** How long a destination waits for the source's 'begin' to reach its replica. */
    private static final Duration BEGIN_PATIENCE = Duration.ofSeconds(20);
    /** How long a destination QEMU's NBD connections wait for volumes that attach while it starts. */
    private static final Duration ATTACH_PATIENCE = Duration.ofSeconds(25); // below the NBD handshake timeout (30 s)

    private final NodeGuests node;
    /** Incoming migrations their source gave up on while they were being prepared. */
    private final Map<String, Boolean> abandonedIncoming = new ConcurrentHashMap<>();
    /** The volumes an incoming migration attached here itself: all that its undo may detach. */
    private final Map<String, List<String>> incomingAttached = new ConcurrentHashMap<>();

    MigrationDestination(NodeGuests node) {
        this.node = node;
    }

    /**
     * Starts a paused QEMU here waiting for the VM's state; answers the URI the source sends it to
     * and how long each part took. The source asks for this while its 'begin' is being committed:
     * QEMU starts at once (its NBD connections wait in the handshake for the exports, at most
     * {@link #ATTACH_PATIENCE}) while the volumes attach shared, and the answer waits until the
     * store says the VM migrates here. An abort meanwhile, or no 'begin' within
     * {@link #BEGIN_PATIENCE}, undoes it all.
     */
    Map<String, Object> prepareIncoming(String name) throws IOException, InterruptedException {
        synchronized (node) {
            return prepare(name);
        }
    }

    private Map<String, Object> prepare(String name) throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        abandonedIncoming.remove(name);
        VmRecord record = node.cluster.store().read(s -> s.vms().require(name));
        if (node.nodeName().equals(record.node())) {
            throw ApiException.conflict("VM '" + name + "' runs on " + node.nodeName() + " already");
        }
        Guest existing = node.guests.get(name);
        if (existing != null && !existing.incoming) {
            throw ApiException.conflict("VM '" + name + "' has a QEMU running on " + node.nodeName()
                + " that is not waiting for a migration; stop it first ('nines vm stop " + name + "')");
        }
        if (existing != null) {
            node.guests.remove(name);
            existing.process.kill(); // a QEMU left waiting by an earlier attempt
        }
        detachIncoming(name); // whatever an earlier attempt attached goes with its QEMU
        int port;
        try (var socket = new ServerSocket(0, 1, java.net.InetAddress.getByName(node.config.listenHost()))) {
            port = socket.getLocalPort();
        }
        String host = node.config.nbdAddress().substring(0, node.config.nbdAddress().lastIndexOf(':'));
        VmFiles files = node.files(name);
        Files.deleteIfExists(files.pidFile());
        List<String> paths = record.definition().disks().stream().map(VmDefinition.VmDisk::volume).distinct().toList();
        // an undo takes away only what this attempt attached: never a volume this node held before
        List<String> held = node.attachedOn(record, node.nodeName());
        incomingAttached.put(name, paths.stream().filter(path -> !held.contains(path)).toList());
        paths.forEach(path -> node.volumes.expect(path, ATTACH_PATIENCE));
        long[] marks = new long[2];
        var attach = CompletableFuture.runAsync(() -> {
            try {
                // shared attachments are harmless before 'begin': this QEMU waits paused (-S) for the state and
                // writes nothing until the switch-over; if 'begin' never comes, everything here is undone
                node.attachDisks(record, true);
                marks[0] = System.nanoTime();
            } finally {
                paths.forEach(node.volumes::unexpect); // whatever did not come will not: waiting handshakes fail now
            }
            awaitBegin(name);
            marks[1] = System.nanoTime();
        }, task -> Thread.ofVirtual().name("incoming-attach-" + name).start(task));
        QemuProcess process = null;
        try {
            process = QemuProcess.startIncomingPaused(node.spec(record.definition()), files,
                new IncomingMigration.Tcp(node.config.listenHost(), port));
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
        Guest guest = node.track(process);
        guest.incoming = true;
        node.event(name, "waiting for an incoming migration on port " + port);
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
            VmRecord record = node.cluster.store().read(s -> s.vms().require(name));
            if (node.nodeName().equals(record.migratingTo())) {
                return;
            }
            if (abandonedIncoming.containsKey(name)) {
                throw ApiException.conflict("the incoming migration of VM '" + name + "' was abandoned by its source");
            }
            if (System.nanoTime() > deadline) {
                throw ApiException.conflict("VM '" + name + "' is not migrating to " + node.nodeName()
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
    Map<String, Object> completeIncoming(String name) throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        Guest guest = node.guests.get(name);
        if (guest == null || !guest.incoming) {
            throw ApiException.conflict("VM '" + name + "' has no incoming migration here");
        }
        // the disks are those of the definition read when the migration began (they cannot change meanwhile);
        // each refresh reads the volume linearizably, so it sees every mapping the source committed
        VmRecord record = node.cluster.store().read(s -> s.vms().require(name));
        for (VmDefinition.VmDisk disk : record.definition().disks()) {
            node.volumes.refresh(disk.volume());
        }
        long t1 = System.nanoTime();
        try {
            guest.process.resume();
        } catch (QmpException e) {
            throw new IOException("VM " + name + ": the destination would not continue: " + e.getMessage(), e);
        }
        long t2 = System.nanoTime();
        // it stays marked incoming until the store places the VM here, so nothing here stops it meanwhile
        node.event(name, "running here after a live migration");
        return Map.of("refreshMillis", (t1 - t0) / 1_000_000, "contMillis", (t2 - t1) / 1_000_000);
    }

    /**
     * The migration failed: the QEMU waiting here goes, and so do its attachments. A preparation
     * still under way sees the mark, and undoes itself.
     */
    void abortIncoming(String name) throws InterruptedException {
        abandonedIncoming.put(name, Boolean.TRUE);
        Guest guest = node.guests.get(name);
        if (guest != null && guest.incoming) {
            node.guests.remove(name);
            guest.process.kill();
            node.event(name, "incoming migration abandoned");
        }
        detachIncoming(name);
    }

    /** Detaches here what the latest incoming migration of {@code name} attached (and nothing this node held before). */
    private void detachIncoming(String name) {
        List<String> attached = incomingAttached.remove(name);
        if (attached != null) {
            node.detachHere(name, attached);
        }
    }

    /** The migration to here completed: what it attached is the VM's now, not the migration's to undo. */
    void arrived(String name) {
        incomingAttached.remove(name);
    }
}
