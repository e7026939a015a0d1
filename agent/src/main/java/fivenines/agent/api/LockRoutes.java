package fivenines.agent.api;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.cluster.ClusterService;
import fivenines.agent.lock.StoreLocks;
import fivenines.model.lock.Lock;
import fivenines.model.lock.LockMode;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeoutException;

/** Named cluster locks (what the seed used the DLM for). */
public final class LockRoutes {
    static final long MAX_WAIT_SECONDS = 3600;
    private final ClusterService cluster;
    private final StoreLocks locks;

    public LockRoutes(ClusterService cluster, StoreLocks locks) {
        this.cluster = cluster;
        this.locks = locks;
    }

    public void register(Router router) {
        router.add("GET", "/v1/locks", r -> cluster.store().readLinearizable(s -> List.copyOf(s.locks().locks())));
        router.add("POST", "/v1/locks/{name}/acquire", this::acquire);
        router.add("POST", "/v1/locks/{name}/release", this::release);
    }

    private Object acquire(ApiRequest request) {
        JsonNode body = request.json();
        String name = request.path("name");
        LockMode mode = mode(body.path("mode").asText("ex"));
        long waitSeconds = body.path("waitSeconds").asLong(0);
        if (waitSeconds < 0 || waitSeconds > MAX_WAIT_SECONDS) {
            throw ApiException.badRequest("wait must be 0 to " + MAX_WAIT_SECONDS + " seconds, not " + waitSeconds);
        }
        String owner = body.path("owner").asText("cli");
        try {
            locks.acquire(name, mode, owner, Duration.ofSeconds(waitSeconds));
        } catch (TimeoutException e) {
            throw new ApiException(409, e.getMessage());
        }
        Lock lock = cluster.store().read(s -> s.locks().lock(name).orElse(null));
        return Map.of("granted", true, "lock", lock == null ? Map.of() : lock);
    }

    private Object release(ApiRequest request) {
        String owner = request.json().path("owner").asText("cli");
        locks.release(request.path("name"), owner);
        return Map.of("released", true);
    }

    static LockMode mode(String text) {
        try {
            return LockMode.valueOf(text.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest("lock mode '" + text + "' is not known; use ex (exclusive) or pr (shared)");
        }
    }
}
