package fivenines.model.vm;

import fivenines.model.cluster.Membership;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.DefineVm;
import fivenines.model.command.MigrateVm;
import fivenines.model.command.ReportNodeResources;
import fivenines.model.command.ReportVmStatus;
import fivenines.model.command.RecoverVm;
import fivenines.model.command.SetVmDesired;
import fivenines.model.command.SetVmHa;
import fivenines.model.ha.Fencing;
import fivenines.model.ha.HaState;
import fivenines.model.ha.HaStatus;
import fivenines.model.ha.Maintenance;
import fivenines.model.state.Rejection;
import fivenines.model.storage.Volumes;

import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/** VM definitions, what is wanted of them, where they are placed and what their nodes report. */
public final class Vms {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");
    private static final Pattern MAC = Pattern.compile("[0-9a-f]{2}(:[0-9a-f]{2}){5}");
    private static final Pattern DEVICE = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,14}");
    private static final Set<String> BUSES = Set.of("virtio", "ide");
    private static final Set<String> CACHES = Set.of("writeback", "none", "writethrough", "directsync", "unsafe");
    private static final Set<String> ON_CRASH = Set.of("restart", "destroy", "preserve");

    private final TreeMap<String, VmRecord> vms = new TreeMap<>();
    private final TreeMap<String, NodeResources> resources = new TreeMap<>();
    private final Maintenance maintenance;

    /** @param maintenance the nodes in maintenance, which take no new placement */
    public Vms(Maintenance maintenance) {
        this.maintenance = maintenance;
    }

    public Vms() {
        this(new Maintenance());
    }

    public Collection<VmRecord> vms() {
        return vms.values();
    }

    public Optional<VmRecord> vm(String name) {
        return Optional.ofNullable(vms.get(name));
    }

    public VmRecord require(String name) {
        VmRecord vm = vms.get(name);
        if (vm == null) {
            throw Rejection.notFound("no VM '" + name + "'; 'nines vm list' shows them");
        }
        return vm;
    }

    public Optional<NodeResources> resources(String node) {
        return Optional.ofNullable(resources.get(node));
    }

    /** The VMs using a logical volume. */
    public List<String> usersOf(String volume) {
        return vms.values().stream().filter(v -> v.definition().disks().stream().anyMatch(d -> d.volume().equals(volume)))
            .map(VmRecord::name).toList();
    }

    public VmRecord define(DefineVm command, Volumes volumes, long index) {
        VmDefinition d = command.definition();
        if (d == null) {
            throw Rejection.invalid("a VM definition is needed");
        }
        validate(d, volumes);
        VmRecord existing = vms.get(d.name());
        if (existing != null) {
            if (!command.replace()) {
                throw Rejection.conflict("VM '" + d.name() + "' exists already");
            }
            if (existing.desired() != DesiredState.STOPPED) {
                throw Rejection.conflict("VM '" + d.name() + "' is " + existing.desired() + "; stop it before changing it");
            }
        }
        var record = existing == null ? new VmRecord(d, DesiredState.STOPPED, null, null, GuestState.STOPPED, null, 1, index)
            : existing.withDefinition(d);
        record = record.withHa(!d.ha() ? null : record.ha() != null ? record.ha() : HaStatus.STARTED);
        vms.put(d.name(), record);
        return record;
    }

    private void validate(VmDefinition d, Volumes volumes) {
        if (d.name() == null || !NAME.matcher(d.name()).matches()) {
            throw Rejection.invalid("VM name '" + d.name() + "' must be 1-63 letters, digits, '.', '_' or '-'");
        }
        if (d.memoryMib() < 16 || d.memoryMib() > (4 << 20)) {
            throw Rejection.invalid("VM " + d.name() + ": memory " + d.memoryMib() + " MiB must be 16 MiB to 4 TiB");
        }
        if (d.vcpus() < 1 || d.vcpus() > 255) {
            throw Rejection.invalid("VM " + d.name() + ": vcpus must be 1 to 255, not " + d.vcpus());
        }
        long largest = resources.values().stream().mapToLong(NodeResources::memoryMib).max().orElse(Long.MAX_VALUE);
        if (d.memoryMib() > largest) {
            throw Rejection.invalid("VM " + d.name() + " wants " + d.memoryMib() + " MiB; the largest node has " + largest + " MiB");
        }
        if (d.boot() == null || d.boot().fromDisk()) {
            if (d.disks().isEmpty()) {
                throw Rejection.invalid("VM " + d.name() + " boots from disk but has no disk; give --disk or --kernel");
            }
        } else {
            requireAbsolute(d.name(), "kernel", d.boot().kernel());
            if (d.boot().initrd() != null) {
                requireAbsolute(d.name(), "initrd", d.boot().initrd());
            }
            if (d.boot().commandLine() != null && (d.boot().commandLine().length() > 4096
                || d.boot().commandLine().chars().anyMatch(c -> c < 0x20))) {
                throw Rejection.invalid("VM " + d.name() + ": the kernel command line must be one line of at most 4096 characters");
            }
        }
        if (d.priority() < 0 || d.priority() > 1000) {
            throw Rejection.invalid("VM " + d.name() + ": priority must be 0 to 1000, not " + d.priority());
        }
        if (!ON_CRASH.contains(d.onCrash())) {
            throw Rejection.invalid("VM " + d.name() + ": on_crash '" + d.onCrash() + "' is not one of " + ON_CRASH);
        }
        if (d.antiAffinity() != null && !NAME.matcher(d.antiAffinity()).matches()) {
            throw Rejection.invalid("VM " + d.name() + ": anti-affinity group '" + d.antiAffinity() + "' is not a valid name");
        }
        var seen = new HashSet<String>();
        for (VmDefinition.VmDisk disk : d.disks()) {
            if (disk.volume() == null || volumes.volume(disk.volume()).isEmpty()) {
                throw Rejection.invalid("VM " + d.name() + ": no logical volume '" + disk.volume() + "'; create it first "
                    + "('nines lv create' or 'nines lv import')");
            }
            if (!seen.add(disk.volume())) {
                throw Rejection.invalid("VM " + d.name() + ": volume " + disk.volume() + " is given twice");
            }
            if (!BUSES.contains(disk.bus())) {
                throw Rejection.invalid("VM " + d.name() + ": disk bus '" + disk.bus() + "' is not one of " + BUSES);
            }
            if (!CACHES.contains(disk.cache())) {
                throw Rejection.invalid("VM " + d.name() + ": cache mode '" + disk.cache() + "' is not one of " + CACHES);
            }
            for (VmRecord other : vms.values()) {
                if (other.name().equals(d.name())) {
                    continue;
                }
                for (VmDefinition.VmDisk theirs : other.definition().disks()) {
                    if (theirs.volume().equals(disk.volume()) && !(theirs.readOnly() && disk.readOnly())) {
                        throw Rejection.conflict("VM " + d.name() + ": volume " + disk.volume() + " is a disk of VM '"
                            + other.name() + "' already; two guests may share a volume only read-only");
                    }
                }
            }
        }
        var macs = new HashSet<String>();
        for (VmDefinition.VmNic nic : d.nics()) {
            String mac = nic.mac() == null ? null : nic.mac().toLowerCase(Locale.ROOT);
            if (mac == null || !MAC.matcher(mac).matches() || (Integer.parseInt(mac.substring(0, 2), 16) & 1) != 0) {
                throw Rejection.invalid("VM " + d.name() + ": '" + nic.mac() + "' is not a unicast MAC address (like 52:54:00:12:34:56)");
            }
            if (!macs.add(mac)) {
                throw Rejection.invalid("VM " + d.name() + ": MAC " + mac + " is given twice");
            }
            for (VmRecord other : vms.values()) {
                if (!other.name().equals(d.name()) && other.definition().nics().stream()
                    .anyMatch(n -> n.mac().equalsIgnoreCase(mac))) {
                    throw Rejection.conflict("VM " + d.name() + ": MAC " + mac + " belongs to VM '" + other.name() + "'");
                }
            }
            String network = nic.network();
            boolean ok = network.equals("user")
                || (network.startsWith("bridge:") && DEVICE.matcher(network.substring(7)).matches())
                || (network.startsWith("tap:") && DEVICE.matcher(network.substring(4)).matches());
            if (!ok) {
                throw Rejection.invalid("VM " + d.name() + ": network '" + network + "' is not user, bridge:NAME or tap:NAME");
            }
        }
    }

    private static void requireAbsolute(String vm, String what, String path) {
        if (path == null || !path.startsWith("/") || path.length() > 4096 || path.chars().anyMatch(c -> c < 0x20)) {
            throw Rejection.invalid("VM " + vm + ": " + what + " '" + path + "' must be an absolute path");
        }
    }

    public VmRecord remove(String name) {
        VmRecord vm = require(name);
        if (vm.desired() != DesiredState.STOPPED || vm.migratingTo() != null) {
            throw Rejection.conflict("VM '" + name + "' is " + vm.desired() + "; stop it first ('nines vm stop " + name + "')");
        }
        if (!vm.phase().off()) {
            throw Rejection.conflict("VM '" + name + "' is still " + vm.phase() + " on " + vm.node() + "; wait until it has stopped");
        }
        vms.remove(name);
        return vm;
    }

    public VmRecord setDesired(SetVmDesired command, Membership membership) {
        VmRecord vm = require(command.name());
        if (command.desired() == null) {
            throw Rejection.invalid("a VM can be " + java.util.Arrays.toString(DesiredState.values()) + ", not nothing");
        }
        if (vm.migratingTo() != null && command.desired() != vm.desired()) {
            throw Rejection.conflict("VM '" + vm.name() + "' is migrating to " + vm.migratingTo() + "; wait for it to finish");
        }
        String node = vm.node();
        switch (command.desired()) {
            case RUNNING -> {
                if (command.node() != null) {
                    if (vm.desired() != DesiredState.STOPPED && vm.node() != null && !vm.node().equals(command.node())) {
                        throw Rejection.conflict("VM '" + vm.name() + "' runs on " + vm.node() + "; move it with 'nines vm migrate'");
                    }
                    node = requireHost(vm, command.node(), membership);
                } else if (node == null || membership.node(node).map(n -> n.state() != NodeState.UP).orElse(true)
                    || (vm.desired() == DesiredState.STOPPED && maintenance.contains(node))) {
                    if (vm.desired() != DesiredState.STOPPED && vm.ha() != null && node != null
                        && membership.node(node).isPresent()) {
                        throw Rejection.conflict("VM '" + vm.name() + "' has HA on and its node '" + node + "' is down: it"
                            + " starts elsewhere once that node is fenced ('nines ha status' says what it waits for)");
                    }
                    node = choose(vm, membership);
                }
            }
            case PAUSED -> {
                if (vm.desired() == DesiredState.STOPPED) {
                    throw Rejection.conflict("VM '" + vm.name() + "' is stopped; start it before pausing it");
                }
            }
            case STOPPED -> { }
        }
        VmRecord changed = vm.withDesired(command.desired(), node);
        if (command.desired() == DesiredState.RUNNING && vm.desired() == DesiredState.STOPPED && changed.ha() != null) {
            changed = changed.withHa(HaStatus.STARTED); // started by an operator: the HA manager's counts start afresh
        }
        if (command.desired() == DesiredState.RUNNING && vm.phase() == GuestState.FAILED) {
            changed = changed.withStatus(GuestState.STARTING, null); // started again (after a fix): the failure is history
        }
        vms.put(vm.name(), changed);
        return changed;
    }

    private String requireHost(VmRecord vm, String name, Membership membership) {
        Node node = membership.requireNode(name);
        if (node.state() != NodeState.UP) {
            throw Rejection.conflict("node '" + name + "' is down; choose a node that is up");
        }
        if (node.witness()) {
            throw Rejection.conflict("node '" + name + "' is a witness and runs no VMs");
        }
        if (maintenance.contains(name) && !(vm.desired() != DesiredState.STOPPED && name.equals(vm.node()))) {
            throw Rejection.conflict("node '" + name + "' is in maintenance and takes no new VMs; choose another node, or"
                + " take it out first ('nines node maintenance disable " + name + "')");
        }
        NodeResources r = resources.get(name);
        long committed = committedMemory(name, vm.name());
        if (r != null && committed + vm.definition().memoryMib() > r.memoryMib()) {
            throw Rejection.conflict("node '" + name + "' has " + (r.memoryMib() - committed) + " MiB free for guests; VM '"
                + vm.name() + "' needs " + vm.definition().memoryMib() + " MiB");
        }
        return name;
    }

    private long committedMemory(String node, String except) {
        return vms.values().stream().filter(v -> !v.name().equals(except) && v.desired() != DesiredState.STOPPED
            && (node.equals(v.node()) || node.equals(v.migratingTo()))).mapToLong(v -> v.definition().memoryMib()).sum();
    }

    /** The node with the most free memory for guests, avoiding nodes that hold VMs of the same anti-affinity group. */
    private String choose(VmRecord vm, Membership membership) {
        String group = vm.definition().antiAffinity();
        Set<String> crowded = new HashSet<>();
        if (group != null) {
            vms.values().stream().filter(v -> group.equals(v.definition().antiAffinity()) && !v.name().equals(vm.name())
                && v.desired() != DesiredState.STOPPED && v.node() != null).forEach(v -> crowded.add(v.node()));
        }
        return membership.snapshot().nodes().stream()
            .filter(n -> n.state() == NodeState.UP && !n.witness() && !maintenance.contains(n.name()))
            .filter(n -> {
                NodeResources r = resources.get(n.name());
                return r == null || committedMemory(n.name(), vm.name()) + vm.definition().memoryMib() <= r.memoryMib();
            })
            .min(Comparator.comparing((Node n) -> crowded.contains(n.name()))
                .thenComparing(n -> -free(n.name(), vm.name()))
                .thenComparing(Node::name))
            .map(Node::name)
            .orElseThrow(() -> Rejection.conflict("no node that is up" + (maintenance.all().isEmpty() ? "" : " and out of"
                + " maintenance") + " has " + vm.definition().memoryMib() + " MiB free for VM '" + vm.name() + "'"));
    }

    private long free(String node, String except) {
        NodeResources r = resources.get(node);
        return (r == null ? 1L << 40 : r.memoryMib()) - committedMemory(node, except);
    }

    public VmRecord report(ReportVmStatus command) {
        VmRecord vm = require(command.name());
        if (!command.node().equals(vm.node()) && !command.node().equals(vm.migratingTo())) {
            throw Rejection.conflict("VM '" + vm.name() + "' is placed on " + vm.node() + ", not on " + command.node());
        }
        if (command.phase() == null) {
            throw Rejection.invalid("a VM's phase is one of " + java.util.Arrays.toString(GuestState.values()));
        }
        if (command.node().equals(vm.migratingTo()) && !command.node().equals(vm.node())) {
            return vm; // the destination's QEMU speaks for the VM only once the migration completes
        }
        VmRecord changed = vm.withStatus(command.phase(), command.detail());
        if (changed.ha() != null && changed.ha().state() == HaState.RECOVERING && command.phase() == GuestState.RUNNING) {
            changed = changed.withHa(changed.ha().with(HaState.STARTED, "recovered on " + command.node()));
        }
        vms.put(vm.name(), changed);
        return changed;
    }

    /** Changes a VM's HA settings (also while it runs: they do not change its QEMU). */
    public VmRecord setHa(SetVmHa command) {
        VmRecord vm = require(command.name());
        VmDefinition d = vm.definition();
        int priority = command.priority() == null ? d.priority() : command.priority();
        if (priority < 0 || priority > 1000) {
            throw Rejection.invalid("VM " + vm.name() + ": priority must be 0 to 1000, not " + priority);
        }
        String group = command.antiAffinity() == null ? d.antiAffinity()
            : command.antiAffinity().isEmpty() ? null : command.antiAffinity();
        if (group != null && !NAME.matcher(group).matches()) {
            throw Rejection.invalid("VM " + vm.name() + ": anti-affinity group '" + group + "' is not a valid name");
        }
        boolean ha = command.ha() == null ? d.ha() : command.ha();
        VmRecord changed = new VmRecord(d.withHa(ha, priority, group), vm.desired(), vm.node(), vm.migratingTo(), vm.phase(),
            vm.detail(), vm.generation(), vm.createdAt(), !ha ? null : vm.ha() != null ? vm.ha() : HaStatus.STARTED);
        vms.put(vm.name(), changed);
        return changed;
    }

    /**
     * The HA manager's decision about a VM whose node is dead: placed on another node (only from a
     * node that is down and fenced, onto one that is up, with room, holding no VM of its
     * anti-affinity group), or its HA state recorded.
     */
    public VmRecord recover(RecoverVm command, Membership membership, Fencing fencing) {
        VmRecord vm = require(command.name());
        if (!vm.definition().ha() || vm.ha() == null) {
            throw Rejection.conflict("VM '" + vm.name() + "' has HA off ('nines vm set " + vm.name() + " --ha on')");
        }
        if (vm.desired() == DesiredState.STOPPED) {
            throw Rejection.conflict("VM '" + vm.name() + "' is stopped; nothing to recover");
        }
        if (command.from() == null || !command.from().equals(vm.node())) {
            throw Rejection.conflict("VM '" + vm.name() + "' is placed on " + vm.node() + ", not on " + command.from());
        }
        if (command.to() == null) {
            if (command.state() == null || command.state() == HaState.RECOVERING) {
                throw Rejection.invalid("VM '" + vm.name() + "': name the node to recover it to, or a state other than recovering");
            }
            VmRecord marked = vm.withHa(vm.ha().with(command.state(), command.why()));
            vms.put(vm.name(), marked);
            return marked;
        }
        Node from = membership.requireNode(command.from());
        if (from.state() != NodeState.DOWN) {
            throw Rejection.conflict("node '" + from.name() + "' is up; VM '" + vm.name() + "' is recovered only from a node"
                + " declared down");
        }
        if (fencing.of(from.name()).map(f -> !f.state().done()).orElse(true)) {
            throw Rejection.conflict("node '" + from.name() + "' is not fenced; VM '" + vm.name() + "' may still run there"
                + " (fence it, or confirm it is off with 'nines fence ack " + from.name() + "')");
        }
        if (command.to().equals(from.name())) {
            throw Rejection.invalid("VM '" + vm.name() + "' is recovered onto another node than " + from.name());
        }
        requireHost(vm, command.to(), membership);
        String group = vm.definition().antiAffinity();
        if (group != null) {
            for (VmRecord other : vms.values()) {
                if (!other.name().equals(vm.name()) && group.equals(other.definition().antiAffinity())
                    && other.desired() != DesiredState.STOPPED && command.to().equals(other.node())) {
                    throw Rejection.conflict("node '" + command.to() + "' runs VM '" + other.name() + "' of anti-affinity group '"
                        + group + "'");
                }
            }
        }
        HaStatus ha = vm.ha();
        VmRecord moved = vm.recoveredTo(command.to(), new HaStatus(HaState.RECOVERING, "recovering from " + from.name()
            + " on " + command.to(), ha.relocations() + 1));
        vms.put(vm.name(), moved);
        return moved;
    }

    public VmRecord migrate(MigrateVm command, Membership membership) {
        VmRecord vm = require(command.name());
        switch (command.step()) {
            case "begin" -> {
                if (vm.desired() != DesiredState.RUNNING || vm.node() == null) {
                    throw Rejection.conflict("VM '" + vm.name() + "' is " + vm.desired() + "; only a running VM migrates live");
                }
                if (vm.migratingTo() != null) {
                    throw Rejection.conflict("VM '" + vm.name() + "' is migrating to " + vm.migratingTo() + " already");
                }
                if (command.destination() == null || command.destination().equals(vm.node())) {
                    throw Rejection.invalid("VM '" + vm.name() + "' runs on " + vm.node() + "; name another node");
                }
                requireHost(vm, command.destination(), membership);
                VmRecord changed = vm.withMigration(command.destination());
                vms.put(vm.name(), changed);
                return changed;
            }
            case "complete" -> {
                if (vm.migratingTo() == null || !vm.migratingTo().equals(command.destination())) {
                    throw Rejection.conflict("VM '" + vm.name() + "' is not migrating to " + command.destination());
                }
                VmRecord moved = new VmRecord(vm.definition(), vm.desired(), command.destination(), null, GuestState.RUNNING, null,
                    vm.generation() + 1, vm.createdAt(), vm.ha());
                vms.put(vm.name(), moved);
                return moved;
            }
            case "abort" -> {
                if (vm.migratingTo() == null) {
                    throw Rejection.conflict("VM '" + vm.name() + "' is not migrating");
                }
                VmRecord back = vm.withMigration(null);
                vms.put(vm.name(), back);
                return back;
            }
            default -> throw Rejection.invalid("migration step '" + command.step() + "' is not begin, complete or abort");
        }
    }

    public NodeResources reportResources(ReportNodeResources command, Membership membership) {
        membership.requireNode(command.node());
        if (command.memoryMib() < 16 || command.cpus() < 1) {
            throw Rejection.invalid("node " + command.node() + " reports " + command.memoryMib() + " MiB and " + command.cpus()
                + " CPUs; that is not a machine that can run guests");
        }
        var r = new NodeResources(command.node(), command.memoryMib(), command.cpus());
        resources.put(r.node(), r);
        return r;
    }

    /** A node left the cluster: its VMs lose their placement (the HA manager restarts them elsewhere). */
    public void nodeRemoved(String node) {
        resources.remove(node);
        for (VmRecord vm : List.copyOf(vms.values())) {
            if (node.equals(vm.migratingTo())) {
                vms.put(vm.name(), vm.withMigration(null));
            }
        }
    }

    public Snapshot snapshot() {
        return new Snapshot(List.copyOf(vms.values()), List.copyOf(resources.values()));
    }

    public void restore(Snapshot snapshot) {
        vms.clear();
        resources.clear();
        if (snapshot == null) {
            return;
        }
        snapshot.vms().forEach(v -> vms.put(v.name(), v));
        snapshot.resources().forEach(r -> resources.put(r.node(), r));
    }

    /** The serialisable form of this part of the state. */
    public record Snapshot(List<VmRecord> vms, List<NodeResources> resources) {
        public Snapshot {
            vms = vms == null ? List.of() : List.copyOf(vms);
            resources = resources == null ? List.of() : List.copyOf(resources);
        }
    }
}
