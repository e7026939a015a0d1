package fivenines.agent.api;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.cluster.ClusterService;
import fivenines.model.cman.CmanConfigException;
import fivenines.model.cman.CmanConfigImport;
import fivenines.model.cman.CmanImport;
import fivenines.model.command.ChangeConfig;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Cluster configuration: keys and values with a config_version. */
public final class ConfigRoutes {
    private final ClusterService cluster;

    public ConfigRoutes(ClusterService cluster) {
        this.cluster = cluster;
    }

    public void register(Router router) {
        router.add("GET", "/v1/config", r -> show());
        router.add("GET", "/v1/config/{key}", this::get);
        router.add("PUT", "/v1/config/{key}", this::set);
        router.add("DELETE", "/v1/config/{key}", r -> change(ChangeConfig.unset(r.path("key"))));
        router.add("POST", "/v1/config", this::batch);
        router.add("POST", "/v1/config/import", this::importCman);
    }

    private Object show() {
        return cluster.store().readLinearizable(s -> {
            var answer = new LinkedHashMap<String, Object>();
            answer.put("configVersion", s.configuration().version());
            answer.put("values", new LinkedHashMap<>(s.configuration().values()));
            return answer;
        });
    }

    private Object get(ApiRequest request) {
        String key = request.path("key");
        return cluster.store().readLinearizable(s -> {
            String value = s.configuration().get(key).orElseThrow(() -> ApiException.notFound("config key '" + key
                + "' is not set; 'nines config show' lists the keys"));
            return Map.of("key", key, "value", value, "configVersion", s.configuration().version());
        });
    }

    private Object set(ApiRequest request) {
        JsonNode body = request.json();
        JsonNode value = body.get("value");
        if (value == null || !value.isTextual()) {
            throw ApiException.badRequest("field 'value' is missing or not a string");
        }
        Long expected = body.hasNonNull("expectedVersion") ? body.get("expectedVersion").asLong() : null;
        return change(new ChangeConfig(Map.of(request.path("key"), value.asText()), List.of(), expected));
    }

    private Object batch(ApiRequest request) {
        JsonNode body = request.json();
        var set = new LinkedHashMap<String, String>();
        body.path("set").fields().forEachRemaining(e -> {
            if (!e.getValue().isTextual()) {
                throw ApiException.badRequest("value of '" + e.getKey() + "' must be a string");
            }
            set.put(e.getKey(), e.getValue().asText());
        });
        var unset = new ArrayList<String>();
        body.path("unset").forEach(n -> unset.add(n.asText()));
        Long expected = body.hasNonNull("expectedVersion") ? body.get("expectedVersion").asLong() : null;
        return change(new ChangeConfig(set, unset, expected));
    }

    /** Imports a cman cluster.conf: what maps becomes config keys in one change; the rest is reported. */
    private Object importCman(ApiRequest request) {
        CmanImport imported;
        try {
            imported = CmanConfigImport.parse(request.text());
        } catch (CmanConfigException e) {
            throw ApiException.badRequest(e.getMessage() + "; nothing was imported");
        }
        boolean force = Boolean.parseBoolean(request.query("force", "false"));
        boolean dryRun = Boolean.parseBoolean(request.query("dryRun", "false"));
        var answer = new LinkedHashMap<String, Object>();
        answer.put("clusterName", imported.clusterName());
        answer.put("cmanConfigVersion", imported.configVersion());
        answer.put("imported", imported.config());
        answer.put("report", imported.report());
        answer.put("errors", imported.errors());
        if (!imported.errors().isEmpty() && !force && !dryRun) {
            throw ApiException.conflict("cluster.conf has " + imported.errors().size() + " unresolved references: "
                + String.join("; ", imported.errors()) + "; fix them, or import anyway with --force. Nothing was imported");
        }
        if (dryRun) {
            answer.put("applied", false);
            return answer;
        }
        answer.putAll(change(new ChangeConfig(imported.config(), List.of(), null)));
        answer.put("applied", true);
        return answer;
    }

    Map<String, Object> change(ChangeConfig change) {
        Object version = ApiException.valueOf(cluster.store().submitAndWait(change));
        return Map.of("configVersion", version);
    }
}
