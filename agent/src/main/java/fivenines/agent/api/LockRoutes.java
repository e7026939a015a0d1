package fivenines.agent.api;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.agent.cluster.ClusterService;
import fivenines.agent.lock.StoreLocks;
import fivenines.model.lock.Lock;
import fivenines.model.lock.LockHolder;
import fivenines.model.lock.LockMode;

import java.time.Duration;
import java.util.LinkedHashMap;
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
        router.add("GET", "/v1/locks", r -> cluster.store().readLinearizable(s -> s.locks().locks().stream().map(LockRoutes::view).toList()));
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
        long token;
        try {
            token = locks.acquire(name, mode, owner, Duration.ofSeconds(waitSeconds)).token();
        } catch (TimeoutException e) {
            throw new ApiException(409, e.getMessage());
        }
        Lock lock = cluster.store().read(s -> s.locks().lock(name).orElse(null));
        return Map.of("granted", true, "token", token, "lock", lock == null ? Map.of() : view(lock));
    }

    /** A lock as the API shows it: each holder with its fencing token, each waiter with the index of its request. */
    static Map<String, Object> view(Lock lock) {
        var answer = new LinkedHashMap<String, Object>();
        answer.put("name", lock.name());
        answer.put("holders", lock.holders().stream().map(h -> holder(h, "token", h.token())).toList());
        answer.put("waiters", lock.waiters().stream().map(h -> holder(h, "since", h.since())).toList());
        return answer;
    }

    private static Map<String, Object> holder(LockHolder holder, String indexName, long index) {
        var answer = new LinkedHashMap<String, Object>();
        answer.put("node", holder.node());
        answer.put("owner", holder.owner());
        answer.put("mode", holder.mode());
        answer.put(indexName, index);
        return answer;
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
