package fivenines.agent.api;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.cluster.ClusterService;
import fivenines.agent.storage.PhysicalVolumeService;
import fivenines.block.aoe.AoePath;
import fivenines.model.storage.PhysicalVolume;
import fivenines.model.storage.Storage;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Physical volumes: create on this node (a file or device, or a remote AoE device), list, show, remove. */
public final class StorageRoutes {
    private final ClusterService cluster;
    private final PhysicalVolumeService physicalVolumes;

    public StorageRoutes(ClusterService cluster, PhysicalVolumeService physicalVolumes) {
        this.cluster = cluster;
        this.physicalVolumes = physicalVolumes;
    }

    public void register(Router router) {
        router.add("GET", "/v1/pvs", r -> cluster.store().readLinearizable(s -> s.storage().physicalVolumes().stream()
            .map(pv -> describe(pv, s.volumes().usedExtents(pv))).toList()));
        router.add("GET", "/v1/pvs/{ref}", r -> cluster.store().readLinearizable(s -> {
            var pv = s.storage().requirePhysicalVolume(r.path("ref"));
            var map = describe(pv, s.volumes().usedExtents(pv));
            map.put("volumeGroup", s.volumes().groupOf(pv.id()).map(g -> g.name()).orElse(null));
            return map;
        }));
        router.add("POST", "/v1/pvs", this::create);
        router.add("DELETE", "/v1/pvs/{ref}", r -> {
            var removal = physicalVolumes.remove(r.path("ref"));
            var map = describe(removal.physicalVolume(), 0);
            map.put("label", removal.label());
            return map;
        });
    }

    private Object create(ApiRequest request) {
        JsonNode body = request.json();
        String text = request.requireText("path");
        Long size = body.hasNonNull("size") ? body.get("size").asLong() : null;
        long extentSize = body.path("extentSize").asLong(Storage.DEFAULT_EXTENT_SIZE);
        String interfaceName = body.hasNonNull("interface") ? body.get("interface").asText() : null;
        if (AoePath.isAoe(text)) {
            if (size != null) {
                throw ApiException.badRequest("size creates a sparse file; an AoE device " + text + " has the size its target says");
            }
            return describe(physicalVolumes.createAoe(text, interfaceName, extentSize, body.path("force").asBoolean(false)), 0);
        }
        if (interfaceName != null) {
            throw ApiException.badRequest("interface is for an AoE device (aoe:eSHELF.SLOT), not for " + text);
        }
        Path path = Path.of(text);
        if (size != null && size <= 0) {
            throw ApiException.badRequest("size must be positive, not " + size);
        }
        if (!path.isAbsolute()) {
            throw ApiException.badRequest("physical volume path '" + path + "' is relative; give an absolute path on the agent's node");
        }
        return describe(physicalVolumes.create(path, size, extentSize, body.path("force").asBoolean(false)), 0);
    }

    static Map<String, Object> describe(PhysicalVolume pv, long usedExtents) {
        var map = new LinkedHashMap<String, Object>();
        map.put("id", pv.id());
        map.put("name", pv.displayName());
        map.put("node", pv.node());
        map.put("path", pv.path());
        map.put("transport", pv.transport());
        map.put("size", pv.size());
        map.put("extentSize", pv.extentSize());
        map.put("extents", pv.extents());
        map.put("usedExtents", usedExtents);
        map.put("exportName", pv.exportName());
        map.put("nbdUris", List.of(pv.nbdUri(), pv.nbdUnixUri()));
        return map;
    }
}
