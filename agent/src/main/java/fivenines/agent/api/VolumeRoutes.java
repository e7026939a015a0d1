package fivenines.agent.api;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.cluster.ClusterService;
import fivenines.agent.storage.VolumeService;
import fivenines.model.command.Command;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.ExtendLogicalVolume;
import fivenines.model.command.ExtendVolumeGroup;
import fivenines.model.command.ReduceVolumeGroup;
import fivenines.model.command.RemoveLogicalVolume;
import fivenines.model.command.RemoveVolumeGroup;
import fivenines.model.command.RenameLogicalVolume;
import fivenines.model.state.ClusterState;
import fivenines.model.storage.Attachment;
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
        router.add("GET", "/v1/lvs/{vg}/{name}", r -> cluster.store().readLinearizable(
            s -> describe(s.volumes().requireVolume(r.path("vg"), r.path("name")), s)));
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
        return volume(new CreateLogicalVolume(request.requireText("vg"), request.requireText("name"), size(body), node,
            body.path("thin").asBoolean(false)));
    }

    private Object show(String vg, String name) {
        return cluster.store().readLinearizable(s -> describe(s.volumes().requireVolume(vg, name), s));
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

    /** LVM's lv_attr, as far as it applies: type, permissions, allocation, (fixed), state, device open. */
    static String attributes(LogicalVolume volume) {
        char type = volume.origin() != null ? (volume.readOnly() ? 's' : 'V') : volume.thin() ? 'V' : '-';
        char permission = volume.readOnly() ? 'r' : 'w';
        char allocation = 'i';
        char state = volume.attached() ? 'a' : '-';
        char open = volume.attachments().size() > 1 ? 'S' : volume.attached() ? 'o' : '-';
        return "" + type + permission + allocation + '-' + state + open + "----";
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
        return map;
    }
}
