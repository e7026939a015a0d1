package fivenines.agent.api;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.cluster.ClusterService;
import fivenines.block.aoe.AoeExports;
import fivenines.block.export.BlockExport;
import fivenines.block.export.ExportRegistry;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.function.Supplier;

/**
 * AoE exports of this node: a logical volume attached here ({@code VG/LV}) or a physical volume
 * of this node served as {@code eSHELF.SLOT} on a network interface. The target serves the same
 * export the NBD server does (looked up at every ATA command), so epochs, ENOSPC and mirrors hold.
 */
public final class AoeRoutes {
    private final ClusterService cluster;
    private final ExportRegistry exports;
    private final AoeExports aoe;
    private final String node;

    public AoeRoutes(ClusterService cluster, ExportRegistry exports, AoeExports aoe, String node) {
        this.cluster = cluster;
        this.exports = exports;
        this.aoe = aoe;
        this.node = node;
    }

    public void register(Router router) {
        router.add("GET", "/v1/aoe/exports", r -> aoe.list().stream().map(this::describe).toList());
        router.add("POST", "/v1/aoe/exports", this::export);
        router.add("DELETE", "/v1/aoe/exports/{address}", r -> {
            try {
                return describe(aoe.unexport(r.path("address")));
            } catch (NoSuchElementException e) {
                throw ApiException.notFound(e.getMessage());
            }
        });
    }

    private Object export(ApiRequest request) {
        JsonNode body = request.json();
        String source = request.requireText("source");
        String interfaceName = request.requireText("interface");
        if (!body.path("shelf").canConvertToInt() || !body.path("slot").canConvertToInt()) {
            throw ApiException.badRequest("shelf and slot are required numbers (shelf 0..65534, slot 0..254)");
        }
        int shelf = body.path("shelf").asInt();
        int slot = body.path("slot").asInt();
        boolean[] isVolume = new boolean[1];
        String exportName = cluster.store().readLinearizable(s -> {
            var pv = s.storage().physicalVolumes().stream()
                .filter(p -> p.id().equals(source) || p.displayName().equals(source)).findFirst();
            if (pv.isEmpty()) {
                if (s.volumes().volume(source).isEmpty()) {
                    throw ApiException.notFound("no logical volume or physical volume '" + source
                        + "'; 'nines lv list' and 'nines pv list' show them");
                }
                isVolume[0] = true;
                return source;
            }
            if (!pv.get().node().equals(node)) {
                throw ApiException.badRequest("physical volume " + source + " is on node " + pv.get().node()
                    + ", not on " + node + "; export it from its own node");
            }
            return pv.get().exportName();
        });
        if (exports.find(exportName).isEmpty()) {
            throw ApiException.conflict(source + " is not served on this node" + (isVolume[0]
                ? "; attach it here first ('nines lv attach " + source + "' on this node)" : ""));
        }
        Supplier<BlockExport> export = () -> exports.find(exportName).orElse(null);
        try {
            return describe(aoe.export(source, exportName, export, shelf, slot, interfaceName));
        } catch (IllegalStateException e) {
            throw ApiException.conflict(e.getMessage());
        } catch (IOException e) {
            throw new ApiException(500, "cannot serve AoE on " + interfaceName + ": " + e.getMessage());
        }
    }

    private Map<String, Object> describe(AoeExports.Entry e) {
        var map = new LinkedHashMap<String, Object>();
        map.put("address", e.address());
        map.put("shelf", e.shelf());
        map.put("slot", e.slot());
        map.put("interface", e.interfaceName());
        map.put("source", e.source());
        map.put("export", e.exportName());
        map.put("mac", e.target().mac().toString());
        map.put("mtu", e.target().mtu());
        map.put("sectorsPerFrame", e.target().handler().sectorsPerFrame());
        BlockExport served = exports.find(e.exportName()).orElse(null);
        map.put("size", served == null ? null : served.size());
        var stats = e.target().stats();
        map.put("frames", stats.framesIn());
        map.put("writes", stats.writes());
        map.put("flushes", stats.flushes());
        map.put("failedFlushes", stats.failedFlushes());
        return map;
    }
}
