package fivenines.agent.metrics;

import fivenines.agent.cluster.ClusterService;
import fivenines.block.export.ExportRegistry;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.ha.FenceState;
import fivenines.model.state.ClusterState;
import fivenines.model.storage.Leg;
import fivenines.model.storage.LogicalVolume;
import fivenines.model.storage.Volumes;
import fivenines.model.vm.GuestState;
import fivenines.model.vm.VmRecord;
import fivenines.store.ClusterStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * The node's Prometheus metrics, served at {@code GET /metrics}: a Micrometer
 * {@link PrometheusMeterRegistry} holding the JVM's meters and the store's (commit time, leader
 * changes), and one collector that reads, at each scrape, the volumes this node serves (their
 * {@link CountedExport} counters), the HA manager's counters, and the cluster's state from this
 * node's replica (nodes, VMs, volumes and legs: the same on every node).
 */
public final class NodeMetrics {
    private static final Logger LOG = LoggerFactory.getLogger(NodeMetrics.class);
    /** Commit-time buckets: a local disk's sync … a store without quorum. */
    private static final Duration[] COMMIT_BUCKETS = {Duration.ofMillis(1), Duration.ofMillis(2), Duration.ofMillis(5),
        Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(250),
        Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofMillis(2500), Duration.ofSeconds(5), Duration.ofSeconds(10)};

    private final String node;
    private final ClusterService cluster;
    private final ExportRegistry exports;
    private final HaCounters ha;
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Timer commits;
    private final Counter commitFailures;
    private final Counter leaderChanges;

    public NodeMetrics(String node, ClusterService cluster, ExportRegistry exports, HaCounters ha) {
        this.node = node;
        this.cluster = cluster;
        this.exports = exports;
        this.ha = ha;
        new JvmMemoryMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        commits = Timer.builder("nines.store.commit.duration")
            .description("Time from submitting a store command on this node until it was applied on this node's replica")
            .serviceLevelObjectives(COMMIT_BUCKETS)
            .register(registry);
        commitFailures = Counter.builder("nines.store.commit.failures")
            .description("Store commands submitted on this node that failed (refused by the leader, timed out, no quorum)")
            .register(registry);
        leaderChanges = Counter.builder("nines.store.leader.changes")
            .description("Changes of the store's leader seen by this node's replica")
            .register(registry);
        registry.getPrometheusRegistry().register(new Collector());
        cluster.onStoreStarted(this::observe);
    }

    private void observe(ClusterStore store) {
        store.observeCommits((nanos, applied) -> {
            if (applied) {
                commits.record(nanos, TimeUnit.NANOSECONDS);
            } else {
                commitFailures.increment();
            }
        });
        store.addLeaderListener(leader -> leaderChanges.increment());
    }

    /** The Prometheus text format (version 0.0.4). */
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    /** Everything, in the Prometheus text format. */
    public String scrape() {
        return registry.scrape();
    }

    /** The scrape-time part: volumes served here, HA counters, the cluster's state. */
    private final class Collector implements MultiCollector {
        @Override
        public MetricSnapshots collect() {
            var out = new ArrayList<MetricSnapshot>();
            try {
                volumeIo(out);
                haCounters(out);
                if (cluster.inCluster()) {
                    ClusterStore store = cluster.store();
                    out.add(gauge("nines_store_is_leader", "1 when this node's store replica is the Raft leader",
                        List.of(point(Labels.EMPTY, store.isLeader() ? 1 : 0))));
                    out.add(gauge("nines_store_applied_index", "Log index of the last command applied on this node's replica",
                        List.of(point(Labels.EMPTY, store.appliedIndex()))));
                    store.read(state -> {
                        clusterState(state, out);
                        return null;
                    });
                }
            } catch (RuntimeException e) {
                // a scrape must answer: what could be read is served, the rest is missing from this one
                LOG.debug("metrics: part of the state could not be read: {}", e.getMessage());
            }
            return new MetricSnapshots(out);
        }
    }

    private void volumeIo(List<MetricSnapshot> out) {
        var served = new TreeMap<String, VolumeIo>();
        for (String name : exports.names()) {
            exports.find(name).ifPresent(e -> {
                if (e instanceof CountedExport counted) {
                    served.put(name, counted.io());
                }
            });
        }
        record Kind(VolumeIo.Op op, String bytesName, String bytesHelp, String requestsName, String requestsHelp) {
        }
        var kinds = List.of(
            new Kind(VolumeIo.Op.READ, "nines_volume_read_bytes", "Bytes read from the volume through this node",
                "nines_volume_reads_completed", "Reads completed"),
            new Kind(VolumeIo.Op.WRITE, "nines_volume_written_bytes", "Bytes written to the volume through this node",
                "nines_volume_writes_completed", "Writes completed"),
            new Kind(VolumeIo.Op.TRIM, "nines_volume_discarded_bytes", "Bytes trimmed (NBD_CMD_TRIM) through this node",
                "nines_volume_discards_completed", "Trims completed"),
            new Kind(VolumeIo.Op.ZERO, "nines_volume_zeroed_bytes", "Bytes zeroed (NBD_CMD_WRITE_ZEROES) through this node",
                "nines_volume_zeroes_completed", "Write-zeroes completed"),
            new Kind(VolumeIo.Op.FLUSH, null, null, "nines_volume_flush_requests", "Flushes completed"));
        for (Kind kind : kinds) {
            if (kind.bytesName() != null) {
                out.add(counter(kind.bytesName(), kind.bytesHelp() + " since its engine started here", served.entrySet().stream()
                    .map(e -> counterPoint(Labels.of("volume", e.getKey()), e.getValue().bytes(kind.op()))).toList()));
            }
            out.add(counter(kind.requestsName(), kind.requestsHelp() + " on the volume through this node since its engine"
                + " started here", served.entrySet().stream()
                .map(e -> counterPoint(Labels.of("volume", e.getKey()), e.getValue().requests(kind.op()))).toList()));
        }
        var errors = new ArrayList<CounterSnapshot.CounterDataPointSnapshot>();
        var latency = HistogramSnapshot.builder().name("nines_volume_request_duration_seconds")
            .help("Time the volume took to serve an NBD request through this node, by kind (op)");
        served.forEach((volume, io) -> {
            for (VolumeIo.Op op : VolumeIo.Op.values()) {
                Labels labels = Labels.of("op", op.label(), "volume", volume);
                errors.add(counterPoint(labels, io.errors(op)));
                latency.dataPoint(io.latency[op.ordinal()].snapshot(labels));
            }
        });
        out.add(counter("nines_volume_errors", "NBD requests on the volume through this node that failed, by kind (op)",
            errors));
        out.add(latency.build());
    }

    private void haCounters(List<MetricSnapshot> out) {
        out.add(counter("nines_ha_failovers", "HA VMs of a dead node this node's manager placed on a survivor while it led",
            List.of(counterPoint(Labels.EMPTY, ha.failovers()))));
        var attempts = new ArrayList<CounterSnapshot.CounterDataPointSnapshot>();
        for (FenceState outcome : HaCounters.OUTCOMES) {
            attempts.add(counterPoint(Labels.of("outcome", HaCounters.label(outcome)), ha.fenceAttempts(outcome)));
        }
        out.add(counter("nines_ha_fence_attempts", "Rounds of fence methods this node's manager ran, by outcome", attempts));
    }

    private void clusterState(ClusterState state, List<MetricSnapshot> out) {
        var nodes = new ArrayList<GaugeSnapshot.GaugeDataPointSnapshot>();
        for (Node n : state.membership().nodes()) {
            nodes.add(point(Labels.of("node", n.name()), n.state() == NodeState.UP ? 1 : 0));
        }
        out.add(gauge("nines_node_up", "1 when the store has the node up, 0 when it was declared down", nodes));

        var info = new ArrayList<GaugeSnapshot.GaugeDataPointSnapshot>();
        var up = new ArrayList<GaugeSnapshot.GaugeDataPointSnapshot>();
        for (VmRecord vm : state.vms().vms()) {
            GuestState phase = vm.phase() == null ? GuestState.STOPPED : vm.phase();
            info.add(point(Labels.of("name", vm.name(), "node", vm.node() == null ? "" : vm.node(), "state", phase.word()), 1));
            up.add(point(Labels.of("name", vm.name()), phase == GuestState.RUNNING ? 1 : 0));
        }
        out.add(gauge("nines_guest_info", "A VM: where it is placed and its state as its node last reported (always 1)", info));
        out.add(gauge("nines_guest_up", "1 when the VM's guest runs", up));

        var size = new ArrayList<GaugeSnapshot.GaugeDataPointSnapshot>();
        var allocated = new ArrayList<GaugeSnapshot.GaugeDataPointSnapshot>();
        var ratio = new ArrayList<GaugeSnapshot.GaugeDataPointSnapshot>();
        var inSync = new ArrayList<GaugeSnapshot.GaugeDataPointSnapshot>();
        var outOfSync = new ArrayList<GaugeSnapshot.GaugeDataPointSnapshot>();
        for (LogicalVolume volume : state.volumes().volumes()) {
            Labels labels = Labels.of("volume", volume.path());
            long mapped = state.volumes().mappedChunks(volume);
            size.add(point(labels, volume.size()));
            allocated.add(point(labels, mapped * Volumes.CHUNK_SIZE));
            ratio.add(point(labels, volume.chunks() == 0 ? 0 : (double) mapped / volume.chunks()));
            if (volume.mirrored()) {
                for (Leg leg : volume.legs()) {
                    Labels legLabels = Labels.of("leg", Integer.toString(leg.index()), "node", leg.node() == null ? "" : leg.node(),
                        "volume", volume.path());
                    inSync.add(point(legLabels, leg.inSync() ? 1 : 0));
                    outOfSync.add(point(legLabels, state.volumes().missedChunks(volume, leg.index()) * Volumes.CHUNK_SIZE));
                }
            }
        }
        out.add(gauge("nines_volume_size_bytes", "The volume's size", size));
        out.add(gauge("nines_volume_allocated_bytes", "Bytes of the volume that hold chunks (lvs' Data% of the size)", allocated));
        out.add(gauge("nines_volume_data_ratio", "Share of the volume's chunks allocated, 0 to 1 (lvs' Data% / 100)", ratio));
        out.add(gauge("nines_leg_in_sync", "1 when the leg of a mirrored volume is in its leg set", inSync));
        out.add(gauge("nines_leg_outofsync_bytes", "Bytes the leg has yet to copy back (its resync's work left)", outOfSync));
    }

    private static GaugeSnapshot gauge(String name, String help, List<GaugeSnapshot.GaugeDataPointSnapshot> points) {
        var builder = GaugeSnapshot.builder().name(name).help(help);
        points.forEach(builder::dataPoint);
        return builder.build();
    }

    private static GaugeSnapshot.GaugeDataPointSnapshot point(Labels labels, double value) {
        return GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(labels).value(value).build();
    }

    private static CounterSnapshot counter(String name, String help, List<CounterSnapshot.CounterDataPointSnapshot> points) {
        var builder = CounterSnapshot.builder().name(name).help(help);
        points.forEach(builder::dataPoint);
        return builder.build();
    }

    private static CounterSnapshot.CounterDataPointSnapshot counterPoint(Labels labels, double value) {
        return CounterSnapshot.CounterDataPointSnapshot.builder().labels(labels).value(value).build();
    }
}
