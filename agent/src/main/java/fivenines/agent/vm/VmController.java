package fivenines.agent.vm;

import fivenines.model.command.SetVmDesired;
import fivenines.model.vm.DesiredState;
import fivenines.model.vm.GuestState;
import fivenines.model.vm.VmRecord;
import fivenines.vm.qemu.QemuProcess;
import fivenines.vm.qemu.VmFiles;
import fivenines.vm.qemu.VmPhase;
import fivenines.vm.qemu.VmStatus;
import fivenines.vm.qmp.QmpException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.InstantSource;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;

/**
 * Makes the QEMU processes on this node match the store: starts the VMs placed here, stops
 * those no longer wanted, adopts running guests after an agent restart (pid files and QMP
 * sockets), reports what QEMU says, and applies the crash and start-retry policies. A VM that a
 * live migration owns is left to it.
 */
final class VmController {
    private static final Logger LOG = LoggerFactory.getLogger(VmController.class);
    static final Duration STOP_GRACE = Duration.ofSeconds(10);
    private static final int MAX_RESTARTS = 3;
    private static final Duration RESTART_WINDOW = Duration.ofMinutes(1);
    private static final Path SYS_CLASS_NET = Path.of("/sys/class/net");

    private final NodeGuests node;
    private final MigrationSource outgoing;
    private final MigrationDestination incoming;
    private final InstantSource clock;
    private volatile BooleanSupplier leaseHeld = () -> true;
    /** The start tries of VMs that failed to start here, by VM. */
    private final Map<String, StartTries> starts = new ConcurrentHashMap<>();

    /** The restart policy of a VM's start, for one generation of its record. */
    private record StartTries(long generation, RestartPolicy policy) {
    }

    VmController(NodeGuests node, MigrationSource outgoing, MigrationDestination incoming, InstantSource clock) {
        this.node = node;
        this.outgoing = outgoing;
        this.incoming = incoming;
        this.clock = clock;
    }

    /** Whether this node holds its lease now: a VM with HA on starts here only then. */
    void leaseHeld(BooleanSupplier held) {
        this.leaseHeld = held;
    }

    void reconcileAll() {
        synchronized (node) {
            if (!node.running || !node.cluster.inCluster()) {
                return;
            }
            List<VmRecord> records = node.cluster.store().read(s -> List.copyOf(s.vms().vms()));
            var names = new HashSet<String>();
            for (VmRecord record : records) {
                names.add(record.name());
                try {
                    reconcile(record);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                } catch (RuntimeException | IOException e) {
                    LOG.warn("VM {}: {}", record.name(), e.getMessage());
                    node.event(record.name(), "error: " + e.getMessage());
                }
            }
            for (String name : List.copyOf(node.guests.keySet())) {
                if (!names.contains(name)) {
                    Guest guest = node.guests.remove(name);
                    guest.process.close();
                    LOG.info("VM {} was removed from the store; its QEMU is stopped", name);
                }
            }
        }
    }

    private void reconcile(VmRecord record) throws IOException, InterruptedException {
        String name = record.name();
        if (outgoing.isMigrating(name)) {
            return; // the migration owns it until it ends
        }
        String here = node.nodeName();
        Guest guest = node.guests.get(name);
        if (guest != null && guest.incoming) {
            if (here.equals(record.node())) {
                guest.incoming = false; // the migration completed: this node runs it now
                incoming.arrived(name);
            } else {
                return; // still the destination of a migration: the source decides
            }
        }
        boolean mine = here.equals(record.node());
        boolean wanted = mine && record.desired() != DesiredState.STOPPED;
        if (!wanted) {
            if (guest != null) {
                stopGuest(record, guest, false);
            } else if (mine && record.phase() != GuestState.STOPPED && record.phase() != GuestState.CRASHED
                && record.phase() != GuestState.FAILED) {
                node.report(record, GuestState.STOPPED, null);
            }
            return;
        }
        if (record.definition().ha() && !leaseHeld.getAsBoolean()) {
            // without a lease its guest may be recovered elsewhere: it neither starts nor restarts here
            if (guest != null) {
                node.guests.remove(name);
                guest.process.kill();
                node.event(name, "QEMU killed: this node holds no lease");
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
                node.event(name, "the guest powered off");
                node.guests.remove(name);
                guest.process.stop(STOP_GRACE);
                node.detachDisks(record);
                node.submit(new SetVmDesired(name, DesiredState.STOPPED, null));
                node.report(record, GuestState.STOPPED, "powered off by the guest");
            }
            case IO_ERROR -> node.report(record, GuestState.PAUSED, guest.ioError != null ? guest.ioError : "io-error");
            case PAUSED -> {
                if (record.desired() == DesiredState.RUNNING) {
                    resume(guest);
                    node.report(record, GuestState.RUNNING, null);
                } else {
                    node.report(record, GuestState.PAUSED, null);
                }
            }
            case RUNNING -> {
                if (record.desired() == DesiredState.PAUSED) {
                    guest.process.pause();
                    node.report(record, GuestState.PAUSED, null);
                } else {
                    guest.ioError = null;
                    node.report(record, GuestState.RUNNING, null);
                }
            }
            case INCOMING, MIGRATED -> { }
        }
    }

    private Guest adoptOrStart(VmRecord record) throws IOException, InterruptedException {
        String name = record.name();
        VmFiles files = node.files(name);
        if (Files.exists(files.pidFile())) {
            try {
                Guest adopted = node.track(QemuProcess.adopt(name, files));
                LOG.info("VM {}: adopted the running QEMU {}", name, adopted.process.pid());
                node.event(name, "adopted QEMU " + adopted.process.pid() + " after an agent restart");
                return adopted;
            } catch (QemuProcess.NotRunning notRunning) {
                LOG.debug("VM {}: nothing to adopt: {}", name, notRunning.getMessage());
                Files.deleteIfExists(files.pidFile());
            } catch (IOException alive) {
                // its QEMU runs but did not answer (QMP under load): starting another would put two QEMUs
                // on one disk, so the adoption is tried again at the next pass
                LOG.warn("VM {}: its QEMU is running but could not be adopted yet, trying again: {}", name, alive.getMessage());
                return null;
            }
        }
        RestartPolicy policy = startPolicy(record);
        if (!policy.mayTryNow()) {
            return null; // the last try failed; the next one is not due yet
        }
        List<String> problems = StartCheck.problems(record.definition(), node.nodeName(), SYS_CLASS_NET);
        if (!problems.isEmpty()) {
            startFailed(record, String.join("; ", problems), null);
            return null;
        }
        if (policy.failures() == 0) {
            node.report(record, GuestState.STARTING, null); // a retry keeps showing why the last try failed
        }
        Guest guest;
        try {
            node.attachDisks(record, false);
            guest = node.track(QemuProcess.start(node.spec(record.definition()), files));
        } catch (IOException | RuntimeException e) {
            node.detachDisks(record); // a VM that did not start holds nothing
            startFailed(record, e.getMessage(), policy);
            return null;
        }
        starts.remove(name);
        node.event(name, "started QEMU " + guest.process.pid() + " (" + record.definition().memoryMib() + " MiB, "
            + record.definition().vcpus() + " vCPUs)");
        if (record.desired() == DesiredState.PAUSED) {
            guest.process.pause();
        }
        node.report(record, record.desired() == DesiredState.PAUSED ? GuestState.PAUSED : GuestState.RUNNING, null);
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
                node.event(name, "start " + retry.failures() + " failed, trying again in " + seconds + " s: " + reason);
                node.report(record, GuestState.STARTING, "start " + retry.failures() + " failed (trying again in " + seconds
                    + " s): " + reason);
            }
            case RestartPolicy.Decision.GiveUp given -> {
                String why = given.failures() > 1 ? "failed to start " + given.failures() + " times: " + reason : reason;
                LOG.warn("VM {}: cannot start on {}: {}", name, node.nodeName(), why);
                node.event(name, "cannot start: " + why);
                try {
                    node.submit(new SetVmDesired(name, DesiredState.STOPPED, null));
                } catch (RuntimeException e) {
                    LOG.warn("VM {}: could not mark it stopped: {}", name, e.getMessage());
                }
                node.report(record, GuestState.FAILED, why);
            }
        }
    }

    private void handleCrash(VmRecord record, Guest guest, String why) throws IOException, InterruptedException {
        String name = record.name();
        node.event(name, why + "; on_crash=" + record.definition().onCrash());
        LOG.warn("VM {}: {}", name, why);
        if (guest.crashes == null) {
            guest.crashes = RestartPolicy.crashes(clock, MAX_RESTARTS, RESTART_WINDOW);
        }
        switch (CrashResponse.decide(record.definition().onCrash(), guest.crashes, MAX_RESTARTS, why)) {
            case CrashResponse.Preserve p -> node.report(record, GuestState.CRASHED, why + " (preserved for inspection)");
            case CrashResponse.Destroy d -> leaveStopped(record, guest, why);
            case CrashResponse.GiveUp given -> leaveStopped(record, guest, given.why());
            case CrashResponse.Restart r -> {
                guest.process.close();
                node.guests.remove(name);
                Guest again = node.track(QemuProcess.start(node.spec(record.definition()), node.files(name)));
                again.crashes = guest.crashes;
                node.event(name, "restarted after: " + why);
                node.report(record, GuestState.RUNNING, "restarted after: " + why);
            }
        }
    }

    private void leaveStopped(VmRecord record, Guest guest, String why) {
        node.guests.remove(record.name());
        guest.process.close();
        node.detachDisks(record);
        node.submit(new SetVmDesired(record.name(), DesiredState.STOPPED, null));
        node.report(record, GuestState.CRASHED, why);
    }

    void stopGuest(VmRecord record, Guest guest, boolean force) throws InterruptedException {
        String name = record.name();
        node.stopping.put(name, guest);
        node.guests.remove(name);
        try {
            if (force) {
                guest.process.kill();
            } else {
                guest.process.stop(STOP_GRACE);
            }
        } finally {
            node.stopping.remove(name, guest);
        }
        node.event(name, force ? "QEMU killed" : "stopped");
        node.detachDisks(record);
        if (node.nodeName().equals(record.node())) {
            node.report(record, GuestState.STOPPED, null);
        }
    }

    void resume(Guest guest) throws InterruptedException {
        try {
            guest.process.resume();
            guest.ioError = null;
        } catch (QmpException e) {
            LOG.warn("VM {}: cont failed: {}", guest.process.name(), e.getMessage());
        }
    }
}
