package fivenines.agent.api;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.cluster.ClusterService;
import fivenines.agent.storage.VolumeService;
import fivenines.model.command.AddLeg;
import fivenines.model.command.Command;
import fivenines.model.command.RemoveLeg;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.ExtendLogicalVolume;
import fivenines.model.command.ExtendVolumeGroup;
import fivenines.model.command.ReduceVolumeGroup;
import fivenines.model.command.RemoveLogicalVolume;
import fivenines.model.command.RemoveVolumeGroup;
import fivenines.model.command.RenameLogicalVolume;
import fivenines.model.state.ClusterState;
import fivenines.block.volume.AttachedVolume;
import fivenines.block.volume.MirrorEngine;
import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.storage.Attachment;
import fivenines.model.storage.Leg;
import fivenines.model.storage.LegState;
import fivenines.model.storage.PhysicalVolume;
import fivenines.model.storage.LogicalVolume;
import fivenines.model.storage.Volumes;
import fivenines.model.storage.VolumeGroup;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Volume groups and logical volumes (the clustered LVM of the seed). */
public final class VolumeRoutes {
    private final ClusterService cluster;
    private final VolumeService volumes;

    public VolumeRoutes(ClusterService cluster, VolumeService volumes) {
        this.cluster = cluster;
        this.volumes = volumes;
    }

    public void register(Router router) {
        router.add("GET", "/v1/vgs", r -> cluster.store().readLinearizable(s -> s.volumes().groups().stream()
            .map(g -> describe(g, s)).toList()));
        router.add("GET", "/v1/vgs/{name}", r -> cluster.store().readLinearizable(s -> describe(s.volumes().requireGroup(r.path("name")), s)));
        router.add("POST", "/v1/vgs", r -> group(new CreateVolumeGroup(r.requireText("name"), texts(r.json(), "pvs"))));
        router.add("POST", "/v1/vgs/{name}/extend", r -> group(new ExtendVolumeGroup(r.path("name"), texts(r.json(), "pvs"))));
        router.add("POST", "/v1/vgs/{name}/reduce", r -> group(new ReduceVolumeGroup(r.path("name"), texts(r.json(), "pvs"))));
        router.add("DELETE", "/v1/vgs/{name}", r -> group(new RemoveVolumeGroup(r.path("name"))));

        router.add("GET", "/v1/lvs", r -> cluster.store().readLinearizable(s -> s.volumes().volumes().stream()
            .map(v -> describe(v, s)).toList()));
        router.add("GET", "/v1/lvs/{vg}/{name}", r -> show(r.path("vg"), r.path("name")));
        router.add("POST", "/v1/lvs/{vg}/{name}/convert", this::convert);
        router.add("POST", "/v1/lvs/{vg}/{name}/check", r -> {
            JsonNode body = r.json();
            if (body.has("from") && !body.path("from").canConvertToInt()) {
                throw ApiException.badRequest("'from' is a leg number ('nines lv show' lists them)");
            }
            return volumes.check(r.path("vg"), r.path("name"), body.path("repair").asBoolean(false),
                body.has("from") ? body.path("from").asInt() : null);
        });
        router.add("POST", "/v1/lvs", this::create);
        router.add("POST", "/v1/lvs/{vg}/{name}/extend", r -> volume(new ExtendLogicalVolume(r.path("vg"), r.path("name"),
            newSize(r))));
        router.add("POST", "/v1/lvs/{vg}/{name}/rename", r -> volume(new RenameLogicalVolume(r.path("vg"), r.path("name"),
            r.requireText("newName"))));
        router.add("DELETE", "/v1/lvs/{vg}/{name}", r -> volume(new RemoveLogicalVolume(r.path("vg"), r.path("name"))));
        router.add("POST", "/v1/lvs/{vg}/{name}/snapshot", r -> {
            String name = r.requireText("name");
            volumes.snapshot(r.path("vg"), r.path("name"), name, r.json().path("writable").asBoolean(true));
            return show(r.path("vg"), name);
        });
        router.add("POST", "/v1/lvs/{vg}/{name}/attach", r -> {
            JsonNode body = r.json();
            volumes.attach(r.path("vg"), r.path("name"), body.hasNonNull("node") ? body.get("node").asText() : null,
                body.path("shared").asBoolean(false), body.path("force").asBoolean(false));
            return show(r.path("vg"), r.path("name"));
        });
        router.add("POST", "/v1/lvs/{vg}/{name}/detach", r -> {
            JsonNode body = r.json();
            volumes.detach(r.path("vg"), r.path("name"), body.hasNonNull("node") ? body.get("node").asText() : null);
            return show(r.path("vg"), r.path("name"));
        });
    }

    private Object create(ApiRequest request) {
        JsonNode body = request.json();
        String node = body.hasNonNull("on") ? body.get("on").asText() : null;
        Integer mirrors = null;
        if (body.has("mirrors")) {
            if (!body.path("mirrors").canConvertToInt() || body.path("mirrors").asInt() < 0) {
                throw ApiException.badRequest("field 'mirrors' must be 0, 1 or 2 (copies beyond the first, as LVM's -m)");
            }
            mirrors = body.path("mirrors").asInt();
        }
        return volume(new CreateLogicalVolume(request.requireText("vg"), request.requireText("name"), size(body), node,
            body.path("thin").asBoolean(false), mirrors, alloc(body)));
    }

    private static Boolean alloc(JsonNode body) {
        if (!body.hasNonNull("alloc")) {
            return null;
        }
        return switch (body.get("alloc").asText()) {
            case "anywhere" -> true;
            case "normal" -> false;
            default -> throw ApiException.badRequest("'alloc' is 'normal' (legs on different nodes) or 'anywhere'"
                + " (legs on different PVs, possibly of one node), not '" + body.get("alloc").asText() + "'");
        };
    }

    /**
     * LVM's lvconvert: {@code mirrors} N adds legs (each copies everything) or removes legs (those
     * out of the set first); {@code replace} NODE or NODE:PV moves that leg elsewhere ({@code on} NODE
     * to choose where); {@code repair} replaces every leg out of the set whose node is down or gone.
     */
    private Object convert(ApiRequest request) {
        JsonNode body = request.json();
        String vg = request.path("vg");
        String name = request.path("name");
        String on = body.hasNonNull("on") ? body.get("on").asText() : null;
        Boolean anywhere = alloc(body);
        int given = (body.has("mirrors") ? 1 : 0) + (body.hasNonNull("replace") ? 1 : 0) + (body.path("repair").asBoolean() ? 1 : 0);
        if (given != 1) {
            throw ApiException.badRequest("give one of 'mirrors' (N), 'replace' (NODE or NODE:PV) or 'repair'");
        }
        LogicalVolume volume = cluster.store().readLinearizable(s -> s.volumes().requireVolume(vg, name));
        long now = System.currentTimeMillis();
        if (body.has("mirrors")) {
            if (!body.path("mirrors").canConvertToInt() || body.path("mirrors").asInt() < 0 || body.path("mirrors").asInt() > 2) {
                throw ApiException.badRequest("'mirrors' is 0, 1 or 2 (copies beyond the first), not " + body.path("mirrors"));
            }
            int want = body.path("mirrors").asInt() + 1;
            int have = volume.legs().size();
            for (int i = have; i < want; i++) {
                submit(new AddLeg(vg, name, i == have ? on : null, null, null, anywhere, now));
            }
            if (want < have) {
                // the legs out of the set go first, then the newest
                var order = new ArrayList<>(volume.legs());
                order.sort(java.util.Comparator.comparing((Leg l) -> l.inSync()).thenComparing(Leg::index,
                    java.util.Comparator.reverseOrder()));
                for (Leg leg : order.subList(0, have - want)) {
                    submit(new RemoveLeg(vg, name, leg.index()));
                }
            }
        } else if (body.hasNonNull("replace")) {
            Leg old = legAt(volume, body.get("replace").asText());
            submit(new AddLeg(vg, name, on, null, old.index(), anywhere, now));
        } else {
            var gone = cluster.store().readLinearizable(s -> volume.legs().stream().filter(l -> !l.inSync()
                && (l.node() == null || s.membership().node(l.node()).map(n -> n.state() == NodeState.DOWN).orElse(true)))
                .toList());
            if (gone.isEmpty()) {
                throw new ApiException(409, volume.path() + " has no leg out of the set on a node that is down or gone;"
                    + " nothing to repair ('nines lv show " + volume.path() + "')");
            }
            for (Leg leg : gone) {
                submit(new AddLeg(vg, name, on, null, leg.index(), anywhere, now));
            }
        }
        return show(vg, name);
    }

    private Leg legAt(LogicalVolume volume, String where) {
        int colon = where.indexOf(':');
        String node = colon < 0 ? where : where.substring(0, colon);
        String pv = colon < 0 ? null : where.substring(colon + 1);
        return cluster.store().readLinearizable(s -> {
            for (Leg leg : volume.legs()) {
                if (!node.equals(leg.node())) {
                    continue;
                }
                if (pv == null || leg.physicalVolume() != null && s.storage().physicalVolume(leg.physicalVolume())
                    .map(p -> p.displayName().equals(pv) || p.path().equals(pv) || p.id().equals(pv)).orElse(false)) {
                    return leg;
                }
            }
            throw ApiException.notFound(volume.path() + " has no leg on " + where + " (its legs: " + volume.legs().stream()
                .map(l -> l.where(s.storage())).toList() + ")");
        });
    }

    private void submit(Command command) {
        ApiException.valueOf(cluster.store().submitAndWait(command));
    }

    private Object show(String vg, String name) {
        Map<String, Object> shown = cluster.store().readLinearizable(s -> describe(s.volumes().requireVolume(vg, name), s));
        MirrorEngine engine = volumes.engines().get(vg + "/" + name);
        if (engine != null) {
            // this node serves it: what its engine has done
            shown.put("engine", Map.of("copiedBytes", engine.copiedBytes(),
                "uncommittedChunks", engine.uncommitted(), "repairPendingBytes", engine.repairPending() * Volumes.CHUNK_SIZE));
        }
        AttachedVolume.Progress progress = engine == null ? null : engine.progress();
        if (progress != null) {
            var p = new LinkedHashMap<String, Object>();
            p.put("what", progress.what());
            p.put("bytesDone", progress.bytesDone());
            p.put("bytesLeft", progress.bytesLeft());
            p.put("bytesPerSecond", Math.round(progress.bytesPerSecond()));
            p.put("etaSeconds", progress.etaSeconds());
            shown.put("resync", p);
        }
        return shown;
    }

    /**
     * The size an extend asks for: {@code size} (the new size) or {@code by} (bytes to add to the
     * current size). A concurrent extend by the same amount is refused by the store (the second
     * asks for a size the volume has already), so a relative extend never silently counts once.
     */
    private long newSize(ApiRequest request) {
        JsonNode body = request.json();
        if (body.has("by")) {
            if (body.has("size")) {
                throw ApiException.badRequest("give either 'size' (the new size) or 'by' (bytes to add), not both");
            }
            if (!body.path("by").canConvertToLong() || body.path("by").asLong() <= 0) {
                throw ApiException.badRequest("field 'by' must be a positive number of bytes");
            }
            long current = cluster.store().readLinearizable(
                s -> s.volumes().requireVolume(request.path("vg"), request.path("name")).size());
            return Math.addExact(current, body.path("by").asLong());
        }
        return size(body);
    }

    private static long size(JsonNode body) {
        if (!body.path("size").canConvertToLong() || body.path("size").asLong() <= 0) {
            throw ApiException.badRequest("field 'size' must be a positive number of bytes");
        }
        return body.path("size").asLong();
    }

    private static List<String> texts(JsonNode body, String field) {
        var list = new ArrayList<String>();
        body.path(field).forEach(n -> list.add(n.asText()));
        return list;
    }

    private Object group(Command command) {
        var group = (VolumeGroup) ApiException.valueOf(cluster.store().submitAndWait(command));
        return cluster.store().read(s -> s.volumes().group(group.name()).map(g -> describe(g, s)).orElse(Map.of("removed", group.name())));
    }

    private Object volume(Command command) {
        var volume = (LogicalVolume) ApiException.valueOf(cluster.store().submitAndWait(command));
        return cluster.store().read(s -> s.volumes().volumes().stream().filter(v -> v.path().equals(volume.path())).findFirst()
            .map(v -> describe(v, s)).orElse(Map.of("removed", volume.path())));
    }

    static Map<String, Object> describe(VolumeGroup group, ClusterState state) {
        var map = new LinkedHashMap<String, Object>();
        long total = state.volumes().totalBytes(group, state.storage());
        long free = state.volumes().freeBytes(group, state.storage());
        long thinSize = state.volumes().volumes().stream().filter(v -> v.volumeGroup().equals(group.name()) && v.thin())
            .mapToLong(LogicalVolume::size).sum();
        map.put("name", group.name());
        map.put("extentSize", group.extentSize());
        map.put("size", total);
        map.put("free", free);
        map.put("extents", total / group.extentSize());
        map.put("freeExtents", free / group.extentSize());
        map.put("thinProvisioned", thinSize);
        map.put("logicalVolumes", state.volumes().volumes().stream().filter(v -> v.volumeGroup().equals(group.name())).count());
        map.put("physicalVolumes", group.physicalVolumes().stream().map(id -> state.storage().requirePhysicalVolume(id).displayName()).toList());
        return map;
    }

    /**
     * LVM's lv_attr, as far as it applies: type (r for a mirror, as raid1), permissions, allocation,
     * (fixed), state, device open, target type (r raid, t thin), (zero), health (p partial: a leg is out
     * of the set; r: a leg is resyncing), (skip).
     */
    static String attributes(LogicalVolume volume) {
        char type = volume.origin() != null ? (volume.readOnly() ? 's' : 'V') : volume.mirrored() ? 'r' : volume.thin() ? 'V' : '-';
        char permission = volume.readOnly() ? 'r' : 'w';
        char allocation = 'i';
        char state = volume.attached() ? 'a' : '-';
        char open = volume.attachments().size() > 1 ? 'S' : volume.attached() ? 'o' : '-';
        char target = volume.mirrored() ? 'r' : volume.thin() ? 't' : '-';
        char health = volume.legs().stream().anyMatch(l -> l.state() == LegState.OUT) ? 'p'
            : volume.legs().stream().anyMatch(l -> l.state() == LegState.RESYNCING) ? 'r' : '-';
        return "" + type + permission + allocation + '-' + state + open + target + '-' + health + '-';
    }

    /** LVM's Cpy%Sync: how much of the volume the furthest-behind leg holds (100 when every leg is in sync). */
    static double copyPercent(LogicalVolume volume, ClusterState state) {
        long worst = 0;
        for (Leg leg : volume.legs()) {
            if (!leg.inSync()) {
                worst = Math.max(worst, state.volumes().missedChunks(volume, leg.index()));
            }
        }
        long chunks = Math.max(1, volume.chunks());
        return Math.floor(10000.0 * (chunks - Math.min(chunks, worst)) / chunks) / 100.0;
    }

    /** One line on the volume's health, never "healthy" while a leg is behind. */
    static String health(LogicalVolume volume, ClusterState state) {
        var behind = new ArrayList<String>();
        for (Leg leg : volume.legs()) {
            if (!leg.inSync()) {
                long missed = state.volumes().missedChunks(volume, leg.index()) * Volumes.CHUNK_SIZE;
                behind.add("leg " + leg.index() + " on " + leg.where(state.storage()) + " " + leg.state().name().toLowerCase()
                    + ", " + (missed >> 20) + " MiB to copy" + (leg.reason() == null ? "" : " (" + leg.reason() + ")"));
            }
        }
        if (behind.isEmpty()) {
            return volume.mirrored() ? "in sync on " + volume.legs().size() + " legs" : "one leg (not mirrored)";
        }
        return "degraded: " + String.join("; ", behind);
    }

    static Map<String, Object> describe(LogicalVolume volume, ClusterState state) {
        var map = new LinkedHashMap<String, Object>();
        long mapped = state.volumes().mappedChunks(volume);
        map.put("name", volume.name());
        map.put("vg", volume.volumeGroup());
        map.put("path", volume.path());
        map.put("size", volume.size());
        map.put("thin", volume.thin());
        map.put("attributes", attributes(volume));
        map.put("dataPercent", volume.chunks() == 0 ? 0.0 : Math.round(10000.0 * mapped / volume.chunks()) / 100.0);
        map.put("mappedBytes", mapped * Volumes.CHUNK_SIZE);
        map.put("ownBytes", state.volumes().ownChunks(volume) * Volumes.CHUNK_SIZE);
        map.put("origin", volume.origin());
        map.put("readOnly", volume.readOnly());
        map.put("epoch", volume.epoch());
        map.put("nodes", state.volumes().physicalVolumes(volume).stream().map(id -> state.storage().requirePhysicalVolume(id).node())
            .distinct().sorted().toList());
        var perPv = new LinkedHashMap<String, Long>();
        state.volumes().chunksByPhysicalVolume(volume).forEach((id, chunks) ->
            perPv.put(state.storage().requirePhysicalVolume(id).displayName(), chunks * Volumes.CHUNK_SIZE));
        map.put("bytesByPhysicalVolume", perPv);
        var attachments = new ArrayList<Map<String, Object>>();
        for (Attachment attachment : volume.attachments()) {
            var a = new LinkedHashMap<String, Object>();
            a.put("node", attachment.node());
            a.put("shared", attachment.shared());
            a.put("epoch", volume.epoch());
            a.put("reservedBytes", attachment.reserved().size() * Volumes.CHUNK_SIZE);
            a.put("nbdUri", attachment.nbdUri(volume.path()));
            a.put("nbdUnixUri", attachment.nbdUnixUri(volume.path()));
            attachments.add(a);
        }
        map.put("attachments", attachments);
        map.put("mirrors", volume.legs().size() - 1);
        map.put("copyPercent", copyPercent(volume, state));
        map.put("health", health(volume, state));
        var legs = new ArrayList<Map<String, Object>>();
        for (Leg leg : volume.legs()) {
            var l = new LinkedHashMap<String, Object>();
            l.put("index", leg.index());
            l.put("node", leg.node());
            l.put("physicalVolume", leg.physicalVolume() == null ? null
                : state.storage().physicalVolume(leg.physicalVolume()).map(PhysicalVolume::displayName).orElse(leg.physicalVolume()));
            l.put("state", leg.state().name().toLowerCase().replace('_', '-'));
            l.put("since", leg.since());
            l.put("reason", leg.reason());
            l.put("missedBytes", state.volumes().missedChunks(volume, leg.index()) * Volumes.CHUNK_SIZE);
            l.put("replaces", leg.replaces());
            l.put("nodeUp", leg.node() == null || state.membership().node(leg.node()).map(Node::state)
                .map(s -> s == NodeState.UP).orElse(false));
            legs.add(l);
        }
        map.put("legs", legs);
        return map;
    }
}
