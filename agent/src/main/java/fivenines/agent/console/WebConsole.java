package fivenines.agent.console;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsExchange;
import fivenines.agent.api.ApiException;
import fivenines.model.codec.Json;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * The web console: its pages and scripts (classpath {@code /console/}), sign-in with the cluster
 * token into an HttpOnly, SameSite=Strict session cookie, and the check of a browser's API
 * request by that cookie plus, for anything but a read, the session's CSRF token in
 * {@value #CSRF_HEADER}. Without a session only the sign-in page and its assets are served.
 */
public final class WebConsole {
    public static final String COOKIE = "nines_session";
    public static final String CSRF_HEADER = "X-CSRF-Token";
    private static final Set<String> PUBLIC_ASSETS = Set.of("signin.html", "signin.js", "console.css");
    private static final Pattern ASSET = Pattern.compile("[a-z0-9-]+\\.(html|js|css|png)");
    private static final Map<String, String> TYPES = Map.of("html", "text/html; charset=utf-8",
        "js", "text/javascript; charset=utf-8", "css", "text/css; charset=utf-8", "png", "image/png");

    private final Predicate<String> credentialCheck;
    private final ConsoleSessions sessions;

    public WebConsole(Predicate<String> credentialCheck, ConsoleSessions sessions) {
        this.credentialCheck = credentialCheck;
        this.sessions = sessions;
    }

    /** Whether the path is the console's own (its pages, sign-in and sign-out) rather than the API's. */
    public static boolean owns(String path) {
        return path.equals("/") || path.equals("/console") || path.startsWith("/console/");
    }

    /** Whether the request carries a session cookie at all (then {@link #authorize} decides). */
    public static boolean hasSessionCookie(Headers headers) {
        return sessionId(headers) != null;
    }

    /**
     * Lets a browser's API request through on its session, or refuses it: 401 when the session is
     * unknown or expired, 403 when a request other than a read lacks the session's CSRF token.
     */
    public void authorize(Headers headers, String method) {
        ConsoleSessions.Session session = sessions.find(sessionId(headers)).orElseThrow(() -> new ApiException(401,
            "the console's session has ended (expired, signed out, or the agent restarted): sign in again with the cluster token"));
        if (!isRead(method) && !ConsoleSessions.csrfMatches(session, headers.getFirst(CSRF_HEADER))) {
            throw new ApiException(403, "a change from the console must carry the session's " + CSRF_HEADER
                + " header; reload the page and try again");
        }
    }

    /** Answers a request for one of the console's own paths. */
    public void handle(HttpExchange exchange) throws IOException {
        String method = exchange.getRequestMethod();
        String path = exchange.getRequestURI().getRawPath();
        Headers headers = exchange.getRequestHeaders();
        Optional<ConsoleSessions.Session> session = sessions.find(sessionId(headers));
        try {
            switch (path) {
                case "/", "/console", "/console/" -> {
                    requireMethod(method, "GET");
                    asset(exchange, session.isPresent() ? "app.html" : "signin.html");
                }
                case "/console/signin" -> {
                    requireMethod(method, "POST");
                    signIn(exchange);
                }
                case "/console/signout" -> {
                    requireMethod(method, "POST");
                    if (session.isPresent()) {
                        authorize(headers, method);
                        sessions.close(session.get().id());
                    }
                    exchange.getResponseHeaders().add("Set-Cookie", COOKIE + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
                        + (exchange instanceof HttpsExchange ? "; Secure" : ""));
                    json(exchange, 200, Map.of("signedOut", true));
                }
                case "/console/session" -> {
                    requireMethod(method, "GET");
                    var s = session.orElseThrow(() -> new ApiException(401, "not signed in: sign in with the cluster token"));
                    var answer = new LinkedHashMap<String, Object>();
                    answer.put("csrfToken", s.csrfToken());
                    answer.put("expiresAt", sessions.expiresAt(s).toString());
                    json(exchange, 200, answer);
                }
                default -> {
                    requireMethod(method, "GET");
                    String name = path.substring("/console/".length());
                    if (!ASSET.matcher(name).matches()) {
                        throw ApiException.notFound("no console page " + path);
                    }
                    if (!PUBLIC_ASSETS.contains(name) && session.isEmpty()) {
                        throw new ApiException(401, "not signed in: open / and sign in with the cluster token");
                    }
                    asset(exchange, name);
                }
            }
        } catch (ApiException e) {
            var body = new LinkedHashMap<String, Object>();
            body.put("error", e.getMessage());
            body.put("mayHaveHappened", false);
            json(exchange, e.status(), body);
        }
    }

    private void signIn(HttpExchange exchange) throws IOException {
        byte[] body = exchange.getRequestBody().readNBytes(64 * 1024);
        String token;
        try {
            JsonNode node = Json.mapper().readTree(body);
            token = node == null ? null : node.path("token").asText(null);
        } catch (IOException e) {
            throw ApiException.badRequest("sign-in takes {\"token\": \"...\"}, the cluster token");
        }
        if (token == null || token.isBlank()) {
            throw ApiException.badRequest("give the cluster token ('nines cluster token' on any node prints it)");
        }
        if (!credentialCheck.test(token.strip())) {
            throw new ApiException(401, "that is not this cluster's token: 'nines cluster token' on any node prints the right one");
        }
        ConsoleSessions.Session session = sessions.open();
        exchange.getResponseHeaders().add("Set-Cookie", COOKIE + "=" + session.id() + "; Path=/; HttpOnly; SameSite=Strict"
            + (exchange instanceof HttpsExchange ? "; Secure" : ""));
        var answer = new LinkedHashMap<String, Object>();
        answer.put("csrfToken", session.csrfToken());
        answer.put("expiresAt", sessions.expiresAt(session).toString());
        json(exchange, 200, answer);
    }

    private static void asset(HttpExchange exchange, String name) throws IOException {
        byte[] bytes;
        try (InputStream in = WebConsole.class.getResourceAsStream("/console/" + name)) {
            if (in == null) {
                throw ApiException.notFound("no console page /console/" + name);
            }
            bytes = in.readAllBytes();
        }
        send(exchange, 200, TYPES.get(name.substring(name.lastIndexOf('.') + 1)), bytes);
    }

    private static void json(HttpExchange exchange, int status, Object body) throws IOException {
        send(exchange, status, "application/json", Json.bytes(body));
    }

    private static void send(HttpExchange exchange, int status, String type, byte[] bytes) throws IOException {
        Headers out = exchange.getResponseHeaders();
        out.set("Content-Type", type);
        out.set("Cache-Control", "no-store");
        out.set("X-Content-Type-Options", "nosniff");
        out.set("X-Frame-Options", "DENY");
        out.set("Referrer-Policy", "no-referrer");
        out.set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'");
        exchange.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        try (var stream = exchange.getResponseBody()) {
            stream.write(bytes);
        }
    }

    private static void requireMethod(String method, String allowed) {
        if (!method.equals(allowed)) {
            throw new ApiException(405, method + " is not allowed here; " + allowed + " is");
        }
    }

    private static boolean isRead(String method) {
        return method.equals("GET") || method.equals("HEAD");
    }

    static String sessionId(Headers headers) {
        var cookies = headers.get("Cookie");
        if (cookies == null) {
            return null;
        }
        for (String line : cookies) {
            for (String part : line.split(";")) {
                String p = part.strip();
                if (p.startsWith(COOKIE + "=") && p.length() > COOKIE.length() + 1) {
                    return p.substring(COOKIE.length() + 1);
                }
            }
        }
        return null;
    }
}
