package fivenines.agent.console;

import fivenines.agent.api.ApiServer;
import fivenines.agent.api.Router;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The console's sign-in, its cookie and CSRF check, beside the bearer token, on a real ApiServer. */
class WebConsoleTest {
    private static final String SECRET = "a".repeat(64);
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final AtomicInteger changes = new AtomicInteger();
    private ApiServer server;
    private String base;

    @BeforeEach
    void startServer() throws IOException {
        var router = new Router();
        router.add("GET", "/v1/thing", r -> Map.of("changes", changes.get()));
        router.add("POST", "/v1/thing", r -> Map.of("changes", changes.incrementAndGet()));
        router.add("GET", "/v1/events", r -> (ApiServer.EventStream) out -> {
            out.write("event: one\ndata: {}\n\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            out.write("event: two\ndata: {}\n\n".getBytes(StandardCharsets.US_ASCII));
        });
        server = new ApiServer("127.0.0.1", 0, router, SECRET::equals, null, new WebConsole(SECRET::equals, new ConsoleSessions()));
        server.start();
        base = "http://127.0.0.1:" + server.port();
    }

    @AfterEach
    void stopServer() {
        server.close();
    }

    @Test
    void theBearerTokenWorksAsBeforeAndNothingElseReachesTheApiWithoutACredential() throws Exception {
        assertEquals(200, send("GET", "/v1/thing", Map.of("Authorization", "Bearer " + SECRET), null).statusCode());
        assertEquals(200, send("POST", "/v1/thing", Map.of("Authorization", "Bearer " + SECRET), "{}").statusCode(),
            "the CLI sends no CSRF header and needs none");
        assertEquals(401, send("GET", "/v1/thing", Map.of(), null).statusCode());
        assertEquals(401, send("GET", "/v1/thing", Map.of("Authorization", "Bearer " + "b".repeat(64)), null).statusCode());
        assertEquals(401, send("GET", "/v1/thing", Map.of("Cookie", WebConsole.COOKIE + "=made-up"), null).statusCode(),
            "a session id the agent never gave");
    }

    @Test
    void aWrongTokenIsRefusedWithAMessageAndSetsNoCookie() throws Exception {
        var refused = send("POST", "/console/signin", Map.of(), "{\"token\":\"" + "b".repeat(64) + "\"}");
        assertEquals(401, refused.statusCode());
        assertTrue(refused.body().contains("not this cluster's token"), refused.body());
        assertTrue(refused.headers().firstValue("Set-Cookie").isEmpty());
        assertEquals(400, send("POST", "/console/signin", Map.of(), "{}").statusCode());
    }

    @Test
    void aSignedInBrowserReadsWithItsCookieAndChangesOnlyWithItsCsrfToken() throws Exception {
        var signedIn = send("POST", "/console/signin", Map.of(), "{\"token\":\"" + SECRET + "\"}");
        assertEquals(200, signedIn.statusCode(), signedIn.body());
        String setCookie = signedIn.headers().firstValue("Set-Cookie").orElseThrow();
        assertTrue(setCookie.contains("HttpOnly"), setCookie);
        assertTrue(setCookie.contains("SameSite=Strict"), setCookie);
        assertTrue(setCookie.contains("Path=/"), setCookie);
        String cookie = setCookie.substring(0, setCookie.indexOf(';'));
        String csrf = field(signedIn.body(), "csrfToken");

        assertEquals(200, send("GET", "/v1/thing", Map.of("Cookie", cookie), null).statusCode(), "a read needs no CSRF token");
        var missing = send("POST", "/v1/thing", Map.of("Cookie", cookie), "{}");
        assertEquals(403, missing.statusCode());
        assertTrue(missing.body().contains("X-CSRF-Token"), missing.body());
        assertEquals(403, send("POST", "/v1/thing", Map.of("Cookie", cookie, "X-CSRF-Token", "wrong"), "{}").statusCode());
        assertEquals(0, changes.get(), "nothing refused was done");
        assertEquals(200, send("POST", "/v1/thing", Map.of("Cookie", cookie, "X-CSRF-Token", csrf), "{}").statusCode());
        assertEquals(1, changes.get());
        assertEquals(csrf, field(send("GET", "/console/session", Map.of("Cookie", cookie), null).body(), "csrfToken"),
            "a reloaded page gets the token back");

        // signing out takes the CSRF token too, then the cookie is worth nothing
        assertEquals(403, send("POST", "/console/signout", Map.of("Cookie", cookie), "{}").statusCode());
        assertEquals(200, send("POST", "/console/signout", Map.of("Cookie", cookie, "X-CSRF-Token", csrf), "{}").statusCode());
        assertEquals(401, send("GET", "/v1/thing", Map.of("Cookie", cookie), null).statusCode());
    }

    @Test
    void withoutASessionOnlyTheSignInPageAndItsAssetsAreServed() throws Exception {
        var root = send("GET", "/", Map.of(), null);
        assertEquals(200, root.statusCode());
        assertTrue(root.body().contains("id=\"signin-form\""), "the sign-in page");
        assertFalse(root.body().contains("id=\"nodes\""));
        assertEquals("no-store", root.headers().firstValue("Cache-Control").orElse(""));
        assertTrue(root.headers().firstValue("Content-Security-Policy").orElse("").contains("default-src 'self'"));
        assertEquals(200, send("GET", "/console/signin.js", Map.of(), null).statusCode());
        assertEquals(200, send("GET", "/console/console.css", Map.of(), null).statusCode());
        assertEquals(401, send("GET", "/console/app.js", Map.of(), null).statusCode());
        assertEquals(401, send("GET", "/console/app.html", Map.of(), null).statusCode());
        assertEquals(401, send("GET", "/console/session", Map.of(), null).statusCode());
        assertEquals(404, send("GET", "/console/..%2Fsecret", Map.of(), null).statusCode());

        var signedIn = send("POST", "/console/signin", Map.of(), "{\"token\":\"" + SECRET + "\"}");
        String setCookie = signedIn.headers().firstValue("Set-Cookie").orElseThrow();
        String cookie = setCookie.substring(0, setCookie.indexOf(';'));
        var app = send("GET", "/", Map.of("Cookie", cookie), null);
        assertTrue(app.body().contains("id=\"nodes\""), "the console itself");
        var script = send("GET", "/console/app.js", Map.of("Cookie", cookie), null);
        assertEquals(200, script.statusCode());
        assertTrue(script.headers().firstValue("Content-Type").orElse("").startsWith("text/javascript"));
    }

    @Test
    void anEventStreamIsSentAsServerSentEvents() throws Exception {
        var response = send("GET", "/v1/events", Map.of("Authorization", "Bearer " + SECRET), null);
        assertEquals(200, response.statusCode());
        assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        assertEquals("event: one\ndata: {}\n\nevent: two\ndata: {}\n\n", response.body());
    }

    private HttpResponse<String> send(String method, String path, Map<String, String> headers, String body)
        throws IOException, InterruptedException {
        var request = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(10))
            .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        headers.forEach(request::header);
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    private static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\":\"([^\"]+)\"").matcher(json);
        assertTrue(m.find(), json);
        return m.group(1);
    }
}
