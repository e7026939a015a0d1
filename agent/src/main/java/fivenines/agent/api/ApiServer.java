package fivenines.agent.api;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import fivenines.agent.console.WebConsole;
import fivenines.model.codec.Json;
import fivenines.store.StoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Predicate;

/**
 * The agent's JSON REST API on the JDK's HTTP server, one virtual thread per request.
 * Every route but health and the API description needs {@code Authorization: Bearer SECRET}, or,
 * from the web console, its session cookie (and on a change its CSRF header: {@link WebConsole}).
 */
public final class ApiServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ApiServer.class);
    static final int MAX_BODY = 4 * 1024 * 1024;

    private final Router router;
    private final Predicate<String> credentialCheck;
    private final WebConsole console;
    private final HttpServer server;
    private final ExecutorService executor;

    static {
        // The JDK's server leaves Nagle's algorithm on: a reply written in two pieces then waits
        // for the client's delayed ACK (tens of milliseconds per request).
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
    }

    public ApiServer(String host, int port, Router router, Predicate<String> credentialCheck) throws IOException {
        this(host, port, router, credentialCheck, null);
    }

    /** @param tls HTTPS with this context's certificate, or null for plain HTTP (an API on loopback) */
    public ApiServer(String host, int port, Router router, Predicate<String> credentialCheck, SSLContext tls) throws IOException {
        this(host, port, router, credentialCheck, tls, null);
    }

    /** @param console the web console served at {@code /}, or null for none (its session cookies are then not accepted) */
    public ApiServer(String host, int port, Router router, Predicate<String> credentialCheck, SSLContext tls, WebConsole console)
        throws IOException {
        this.router = router;
        this.credentialCheck = credentialCheck;
        this.console = console;
        if (tls == null) {
            this.server = HttpServer.create(new InetSocketAddress(host, port), 256);
        } else {
            var secure = HttpsServer.create(new InetSocketAddress(host, port), 256);
            secure.setHttpsConfigurator(new HttpsConfigurator(tls));
            this.server = secure;
        }
        this.executor = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("api-request-", 0).factory());
        server.setExecutor(executor);
        server.createContext("/", this::handle);
    }

    public void start() {
        server.start();
    }

    public int port() {
        return server.getAddress().getPort();
    }

    private void handle(HttpExchange exchange) throws IOException {
        int status = 200;
        Object body;
        String method = exchange.getRequestMethod();
        String path = exchange.getRequestURI().getRawPath();
        if (console != null && WebConsole.owns(path)) {
            console.handle(exchange);
            return;
        }
        try {
            Router.Match match = router.match(method, path);
            if (!match.route().open()) {
                authorize(exchange, method);
            }
            byte[] requestBody = readBody(exchange.getRequestBody());
            var request = new ApiRequest(method, path, match.parameters(), query(exchange.getRequestURI().getRawQuery()), requestBody);
            Object result = match.route().handler().handle(request);
            if (result instanceof ApiResponse response) {
                status = response.status();
                result = response.body();
            }
            if (result instanceof EventStream stream) {
                stream(exchange, stream);
                return;
            }
            if (result instanceof RawText text) {
                send(exchange, status, text.contentType(), text.text().getBytes(StandardCharsets.UTF_8));
                return;
            }
            body = result == null ? Map.of() : result;
        } catch (ApiException e) {
            status = e.status();
            body = error(e.getMessage(), e.mayHaveHappened());
        } catch (fivenines.model.state.Rejection e) {
            // a read that named something missing or invalid: nothing changed
            status = ApiException.statusOf(e.reason());
            body = error(e.getMessage(), false);
        } catch (StoreException e) {
            status = 503;
            body = error(e.getMessage(), e.mayHaveHappened());
        } catch (IllegalArgumentException e) {
            status = 400;
            body = error(e.getMessage(), false);
        } catch (Exception e) {
            LOG.warn("{} {} failed", method, path, e);
            status = 500;
            body = error(method + " " + path + " failed: " + e, true);
        } catch (Error e) {
            // the JDK server would close the connection without a word: answer, and say it in the log
            LOG.error("{} {} failed", method, path, e);
            status = 500;
            body = error(method + " " + path + " failed: " + e, true);
        }
        byte[] bytes;
        try {
            bytes = Json.bytes(body);
        } catch (RuntimeException e) {
            LOG.error("the answer to {} {} could not be written as JSON", method, path, e);
            status = 500;
            bytes = Json.bytes(error(method + " " + path + ": the answer could not be written as JSON: " + e, true));
        }
        send(exchange, status, "application/json", bytes);
    }

    /**
     * A bearer token, as the CLI and other agents send it; without one, a browser's session cookie
     * (checked by the console, with its CSRF token on a change); otherwise refused.
     */
    private void authorize(HttpExchange exchange, String method) {
        var headers = exchange.getRequestHeaders();
        String authorization = headers.getFirst("Authorization");
        if (authorization == null && console != null && WebConsole.hasSessionCookie(headers)) {
            console.authorize(headers, method);
            return;
        }
        String token = authorization != null && authorization.startsWith("Bearer ") ? authorization.substring(7).strip() : null;
        if (!credentialCheck.test(token)) {
            throw new ApiException(401, token == null
                ? "this API needs the cluster credential: send 'Authorization: Bearer TOKEN' (the CLI finds it by itself on the agent's machine, or set NINES_TOKEN)"
                : "the credential does not match this agent's cluster secret");
        }
    }

    /** Server-Sent Events: headers now, the body chunk by chunk until the stream ends or the client goes. */
    private static void stream(HttpExchange exchange, EventStream stream) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        exchange.getResponseHeaders().set("Cache-Control", "no-store");
        exchange.sendResponseHeaders(200, 0);
        try (var out = exchange.getResponseBody()) {
            stream.writeTo(out);
        } catch (IOException gone) {
            LOG.debug("{}: the client went ({})", exchange.getRequestURI().getRawPath(), gone.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static Map<String, Object> error(String message, boolean mayHaveHappened) {
        var map = new LinkedHashMap<String, Object>();
        map.put("error", message);
        map.put("mayHaveHappened", mayHaveHappened);
        return map;
    }

    private static void send(HttpExchange exchange, int status, String contentType, byte[] bytes) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", contentType);
        exchange.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        try (var out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static byte[] readBody(InputStream in) throws IOException {
        byte[] bytes = in.readNBytes(MAX_BODY + 1);
        if (bytes.length > MAX_BODY) {
            throw new ApiException(413, "the request body is larger than " + MAX_BODY + " bytes");
        }
        return bytes;
    }

    private static Map<String, String> query(String raw) {
        var query = new HashMap<String, String>();
        if (raw == null || raw.isEmpty()) {
            return query;
        }
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            String key = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
            String value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            query.put(key, value);
        }
        return query;
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }

    /** A reply with a status other than 200. */
    public record ApiResponse(int status, Object body) {
    }

    /** A reply sent as Server-Sent Events ({@code text/event-stream}), written as it happens. */
    @FunctionalInterface
    public interface EventStream {
        /** Writes events until there is nothing more to say; an IOException means the client went. */
        void writeTo(OutputStream out) throws IOException, InterruptedException;
    }

    /** A reply that is not JSON (the OpenAPI description). */
    public record RawText(String contentType, String text) {
    }
}
