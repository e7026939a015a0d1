package fivenines.agent.vm;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.api.ApiException;
import fivenines.agent.client.AgentClient;
import fivenines.model.cluster.Node;
import fivenines.model.command.MigrateVm;
import fivenines.model.vm.VmRecord;
import fivenines.vm.migration.LiveMigration;
import fivenines.vm.migration.MigrationFailedException;
import fivenines.vm.migration.MigrationOptions;
import fivenines.vm.migration.MigrationResult;
import fivenines.vm.qemu.VmPhase;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The source side of a live migration: the destination prepares while 'begin' is committed,
 * QEMU sends the state, the destination continues the guest, 'complete' is committed and this
 * node lets go of its QEMU and attachments. Before the switch-over a failure rolls everything
 * back and the guest goes on here; after it, nothing is undone.
 */
final class MigrationSource {
    private static final Logger LOG = LoggerFactory.getLogger(MigrationSource.class);
    private final NodeGuests node;
    private final PeerAgents peers;
    private final Map<String, OutgoingMigration> migrations = new ConcurrentHashMap<>();
    private final Map<String, OutgoingMigration> finished = new ConcurrentHashMap<>();

    MigrationSource(NodeGuests node, PeerAgents peers) {
        this.node = node;
        this.peers = peers;
    }

    /** Whether a migration from here owns the VM (the controller leaves it alone until it ends). */
    boolean isMigrating(String name) {
        return migrations.containsKey(name);
    }

    Optional<Map<String, Object>> migrationStatus(String name) {
        OutgoingMigration m = migrations.get(name);
        if (m == null) {
            m = finished.get(name);
        }
        return Optional.ofNullable(m).map(OutgoingMigration::describe);
    }

    /** Every migration started here that is under way or is the last of its VM, oldest first. */
    List<Map<String, Object>> statuses() {
        var all = new java.util.ArrayList<OutgoingMigration>(finished.values());
        all.addAll(migrations.values());
        all.sort(java.util.Comparator.comparing(m -> m.started));
        return all.stream().map(OutgoingMigration::describe).toList();
    }

    /** Refuses (before anything starts anywhere) a migration that cannot be tried, such as one to the node the VM runs on. */
    void requireMigratable(VmRecord record, String destination) {
        Optional<Node> member = destination == null ? Optional.empty()
            : node.cluster.store().read(s -> s.membership().node(destination));
        Optional<ApiException> refusal = MigrationRefusal.of(record, destination, member);
        if (refusal.isPresent()) {
            throw refusal.get();
        }
    }

    /** Starts migrating a VM running here to {@code destination}; returns at once (progress via {@link #migrationStatus}). */
    Map<String, Object> migrate(String name, String destination, boolean wait) throws InterruptedException {
        VmRecord record = node.cluster.store().readLinearizable(s -> s.vms().require(name));
        requireMigratable(record, destination);
        if (!node.nodeName().equals(record.node()) || !node.guests.containsKey(name)) {
            throw ApiException.conflict("VM '" + name + "' does not run on " + node.nodeName());
        }
        var migration = new OutgoingMigration(name, destination);
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

    private void runMigration(VmRecord record, OutgoingMigration migration) {
        String name = record.name();
        String destination = migration.destination;
        long started = System.nanoTime();
        Guest guest = node.guests.get(name);
        // what the destination held before this attempt is not this attempt's to undo
        List<String> attachedBefore = node.attachedOn(record, destination);
        boolean begun = false;
        boolean handedOver = false;
        boolean destinationAttached = false;
        boolean destinationStarted = false;
        try {
            migration.state = "starting QEMU on " + destination + ", attaching disks there";
            // the destination starts QEMU while 'begin' is committed, then attaches the volumes (shared: both
            // nodes hold them until the switch); it waits for 'begin' to reach its replica before attaching
            destinationAttached = true;
            AgentClient peer = peers.client(destination);
            var prepare = CompletableFuture.supplyAsync(
                () -> peer.post("/v1/vms/" + AgentClient.encode(name) + "/incoming", Map.of()),
                task -> Thread.ofVirtual().name("migrate-prepare-" + name).start(task));
            try {
                node.submit(new MigrateVm(name, destination, "begin"));
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
            node.event(name, "live migration to " + destination + " begins");
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
            JsonNode switched = peers.client(destination).post("/v1/vms/" + AgentClient.encode(name) + "/incoming/complete", Map.of());
            migration.switchover = Duration.ofNanos(System.nanoTime() - handover);
            migration.step("switchover");
            migration.detail("refresh", switched.path("refreshMillis").asLong());
            migration.detail("cont", switched.path("contMillis").asLong());
            handedOver = true; // the guest runs at the destination now: from here on nothing is rolled back
            completeInStore(name, destination);
            migration.step("complete");
            migration.total = Duration.ofNanos(System.nanoTime() - started);
            migration.state = "completed";
            node.event(name, "migrated to " + destination + " in " + migration.total.toMillis() + " ms (QEMU downtime "
                + result.downtime().toMillis() + " ms)");
            // the source lets go: its QEMU ends and its attachments go, which moves the volumes' epochs on
            node.guests.remove(name);
            guest.process.stop(Duration.ofSeconds(2));
            node.detachDisks(record);
            node.forgetReport(name);
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
                node.event(name, "runs on " + destination + " after the switch-over, but finishing failed: " + why);
                return;
            }
            migration.state = "failed";
            LOG.warn("VM {}: migration to {} failed: {}", name, destination, why);
            node.event(name, "migration to " + destination + " failed, the VM stays here: " + why);
            boolean aborted = false;
            if (destinationStarted) {
                try {
                    peers.client(destination).post("/v1/vms/" + AgentClient.encode(name) + "/incoming/abort", Map.of());
                    aborted = true;
                } catch (RuntimeException ignored) {
                    LOG.debug("VM {}: the destination could not be told to abort", name);
                }
            }
            if (destinationAttached && !aborted && !destination.equals(node.nodeName())) {
                // the destination may have attached some before it failed; it cannot be asked: the store can
                for (String volume : node.attachedOn(record, destination)) {
                    if (attachedBefore.contains(volume)) {
                        continue;
                    }
                    String[] parts = volume.split("/", 2);
                    try {
                        node.volumes.detach(parts[0], parts[1], destination);
                    } catch (RuntimeException ignored) {
                        LOG.warn("VM {}: could not detach {} from {}: {}", name, volume, destination, ignored.getMessage());
                    }
                }
            }
            if (begun) {
                try {
                    node.submit(new MigrateVm(name, destination, "abort"));
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
            node.requestReconcile();
        }
    }

    /** Commits 'complete', trying again for a while: the guest already runs at the destination. */
    private void completeInStore(String name, String destination) throws InterruptedException {
        for (int attempt = 1; ; attempt++) {
            try {
                if (attempt > 1 && node.cluster.store().readLinearizable(s -> s.vms().vm(name))
                        .map(vm -> destination.equals(vm.node())).orElse(false)) {
                    return; // the earlier attempt was applied after all
                }
                node.submit(new MigrateVm(name, destination, "complete"));
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
}
