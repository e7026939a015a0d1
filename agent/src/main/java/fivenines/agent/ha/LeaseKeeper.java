package fivenines.agent.ha;

import fivenines.agent.cluster.ClusterService;
import fivenines.agent.vm.VmService;
import fivenines.model.config.LeaseSettings;
import fivenines.manager.lease.LeaseWatch;
import fivenines.manager.lease.NodeLease;
import fivenines.manager.lease.WriteGate;
import fivenines.manager.watchdog.Watchdog;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.RenewLease;
import fivenines.model.command.SetNodeState;
import fivenines.model.state.Result;
import fivenines.store.ClusterStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.List;

/**
 * This node's lease (invariant 3), on every node. One thread renews it through the store
 * ({@link RenewLease}); another checks every {@link #CHECK} whether the node may still serve
 * ({@link NodeLease}) and, when it may not, kills the QEMUs of its HA guests before the lease ends
 * and stops kicking the watchdog. Every replica also notes when it applied each node's renewal
 * ({@link LeaseWatch}): the manager, on whichever node leads, reckons the dead nodes' leases from it.
 * <p>
 * An agent that starts holds no lease yet; guests it adopts are given one serving time from its
 * start to renew (the store may need an election first). A node declared down is refused
 * renewal: its lease ends at once.
 */
public final class LeaseKeeper {
    private static final Logger LOG = LoggerFactory.getLogger(LeaseKeeper.class);
    static final Duration CHECK = Duration.ofMillis(100);
    private final ClusterService cluster;
    private final VmService vms;
    private final Watchdog watchdog;
    private final InstantSource clock;
    private final NodeLease lease;
    private final Instant started;
    private volatile LeaseWatch watch;
    private volatile boolean running;
    private volatile boolean everHeld;
    private volatile boolean revoked;
    private volatile boolean selfFenced;
    /**
     * Renewals sent and not yet answered, at most {@link #RENEWALS_IN_FLIGHT}: a renewal sent to a
     * leader that just died is answered only by its time-out (3 s), and the next ones, sent to the
     * new leader, must not wait for it (before, the renewal loop waited, and a survivor of the
     * leader's death, silent that long, was declared down).
     */
    private final java.util.concurrent.Semaphore renewalsInFlight = new java.util.concurrent.Semaphore(RENEWALS_IN_FLIGHT);
    static final int RENEWALS_IN_FLIGHT = 8;
    /** When the newest renewal whose answer was acted on was sent: an older one answered later changes nothing. */
    private Instant newestAnswered;
    private Thread renewer;
    private Thread checker;

    public LeaseKeeper(ClusterService cluster, VmService vms, Watchdog watchdog, InstantSource monotonic) {
        this.cluster = cluster;
        this.vms = vms;
        this.watchdog = watchdog;
        this.clock = monotonic;
        this.lease = new NodeLease(monotonic, LeaseSettings.DEFAULTS);
        this.started = monotonic.instant();
        this.watch = new LeaseWatch(started);
        vms.leaseHeld(this::mayServe);
        cluster.onStoreStarted(this::watchRenewals);
    }

    private void watchRenewals(ClusterStore store) {
        watch = new LeaseWatch(clock.instant()); // what this replica knows of renewals begins now
        store.addListener((index, command, result, state) -> {
            if (command instanceof RenewLease renew && result instanceof Result.Applied) {
                watch.renewalApplied(renew.node(), clock.instant(), index, store.appliedTerm());
            } else if (command instanceof SetNodeState set && set.state() == NodeState.UP && result instanceof Result.Applied) {
                // declared up: it was heard now, and renews from here on (it was refused while down)
                watch.renewalApplied(set.name(), clock.instant(), index, store.appliedTerm());
            }
        });
    }

    public void start() {
        running = true;
        renewer = Thread.ofPlatform().daemon(true).name("lease-renew").start(this::renewLoop);
        checker = Thread.ofPlatform().daemon(true).name("lease-check").start(this::checkLoop);
    }

    public void stop() throws InterruptedException {
        running = false;
        for (Thread t : new Thread[] {renewer, checker}) {
            if (t != null) {
                t.interrupt();
                t.join(2000);
            }
        }
        watchdog.close();
    }

    /** The replica's view of every node's renewals (the manager reads the dead nodes' leases from it). */
    public LeaseWatch watch() {
        return watch;
    }

    public NodeLease lease() {
        return lease;
    }

    public Watchdog watchdog() {
        return watchdog;
    }

    public InstantSource clock() {
        return clock;
    }

    /**
     * Whether the engine of {@code volume} here may acknowledge writes now: always while this node may
     * serve (or is in no cluster); without the lease, not when the volume is a disk of an HA VM, which
     * may soon run elsewhere. Other guests' disks go on: no one else may write them, and once the node
     * is declared down their epochs move anyway.
     */
    public WriteGate writeGate(String volume) {
        return () -> {
            if (mayServe() || !cluster.inCluster()) {
                return null;
            }
            boolean ha = cluster.store().read(s -> s.vms().vms().stream().anyMatch(v -> v.definition().ha()
                && v.definition().disks().stream().anyMatch(d -> d.volume().equals(volume))));
            return ha ? java.util.Objects.requireNonNullElse(lease.why(), "no renewal applied since this agent started") : null;
        };
    }

    /** Whether this node may run its HA guests now: it holds its lease, or it just started and has not been refused. */
    public boolean mayServe() {
        if (lease.canServe()) {
            return true;
        }
        return !everHeld && !revoked && clock.instant().isBefore(started.plus(lease.settings().serveFor()));
    }

    private void renewLoop() {
        while (running) {
            Instant sent = clock.instant();
            try {
                if (cluster.inCluster()) {
                    var store = cluster.store();
                    lease.settings(store.read(s -> LeaseSettings.from(s.configuration()::get)));
                    if (renewalsInFlight.tryAcquire()) {
                        try {
                            store.submit(new RenewLease(store.nodeName())).whenComplete((result, error) -> {
                                renewalsInFlight.release();
                                answered(sent, result, error);
                            });
                        } catch (RuntimeException e) {
                            renewalsInFlight.release();
                            throw e;
                        }
                    }
                }
            } catch (IllegalArgumentException e) {
                LOG.warn("lease settings: {}; keeping the last good ones", e.getMessage());
            } catch (RuntimeException e) {
                LOG.debug("lease renewal failed: {}", e.getMessage());
            }
            long wait = lease.settings().renewEvery().minus(Duration.between(sent, clock.instant())).toMillis();
            try {
                Thread.sleep(Math.max(10, wait));
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** The store answered the renewal sent at {@code sent}: acted on only if no later-sent one was answered yet. */
    private synchronized void answered(Instant sent, Result result, Throwable error) {
        if (error != null) {
            LOG.debug("lease renewal failed: {}", error.getMessage());
            return;
        }
        if (newestAnswered != null && !sent.isAfter(newestAnswered)) {
            return;
        }
        if (result instanceof Result.Applied) {
            newestAnswered = sent;
            lease.renewed(sent);
            everHeld = true;
            revoked = false;
            if (selfFenced) {
                selfFenced = false;
                LOG.info("lease renewed again: HA guests may run here again");
            }
        } else if (result instanceof Result.Rejected rejected) {
            newestAnswered = sent;
            revoked = true;
            lease.revoked(rejected.message());
        }
    }

    private void checkLoop() {
        while (running) {
            try {
                if (mayServe() || !cluster.inCluster()) {
                    watchdog.kick(); // a node in no cluster has no lease to lose
                } else if (cluster.inCluster()) {
                    List<String> killed = vms.killHaGuests(lease.why());
                    if (!killed.isEmpty()) {
                        LOG.warn("this node holds no lease ({}): killed the QEMUs of {}", lease.why(), killed);
                    }
                    if (!selfFenced && (everHeld || !killed.isEmpty())) {
                        LOG.warn("this node lost its lease ({}): its HA guests run nowhere here until it renews", lease.why());
                        selfFenced = true;
                    }
                }
            } catch (RuntimeException e) {
                LOG.warn("lease check: {}", e.getMessage());
            }
            try {
                Thread.sleep(CHECK);
            } catch (InterruptedException e) {
                return;
            }
        }
    }
}
