package fivenines.agent.api;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Matches method and path against routes such as {@code /v1/locks/{name}/acquire}. */
public final class Router {
    private final List<Route> routes = new ArrayList<>();

    record Route(String method, String[] segments, ApiHandler handler, boolean open) {
    }

    record Match(Route route, Map<String, String> parameters) {
    }

    /** Adds a route that needs the cluster credential. */
    public void add(String method, String pattern, ApiHandler handler) {
        routes.add(new Route(method, split(pattern), handler, false));
    }

    /** Adds a route anyone may call (health, the API description). */
    public void addOpen(String method, String pattern, ApiHandler handler) {
        routes.add(new Route(method, split(pattern), handler, true));
    }

    private static String[] split(String path) {
        return path.replaceAll("^/+|/+$", "").split("/");
    }

    Match match(String method, String path) {
        String[] segments = split(path);
        boolean pathKnown = false;
        for (Route route : routes) {
            Map<String, String> parameters = matchSegments(route.segments(), segments);
            if (parameters == null) {
                continue;
            }
            pathKnown = true;
            if (route.method().equals(method)) {
                return new Match(route, parameters);
            }
        }
        if (pathKnown) {
            throw new ApiException(405, method + " is not allowed on " + path);
        }
        throw ApiException.notFound("no API route " + method + " " + path + "; see /v1/openapi.yaml");
    }

    private static Map<String, String> matchSegments(String[] pattern, String[] actual) {
        if (pattern.length != actual.length) {
            return null;
        }
        var parameters = new HashMap<String, String>();
        for (int i = 0; i < pattern.length; i++) {
            String p = pattern[i];
            if (p.startsWith("{") && p.endsWith("}")) {
                parameters.put(p.substring(1, p.length() - 1), java.net.URLDecoder.decode(actual[i], java.nio.charset.StandardCharsets.UTF_8));
            } else if (!p.equals(actual[i])) {
                return null;
            }
        }
        return parameters;
    }
}
