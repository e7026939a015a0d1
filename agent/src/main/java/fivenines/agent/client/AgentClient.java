package fivenines.agent.client;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.model.codec.Json;

import javax.net.ssl.SSLContext;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** A client of an agent's REST API: what the CLI uses, and what agents use to talk to each other. */
public final class AgentClient {
    private final String baseUrl;
    private final String token;
    private final HttpClient http;
    private final Duration timeout;

    public AgentClient(String baseUrl, String token) {
        this(baseUrl, token, Duration.ofSeconds(60));
    }

    public AgentClient(String baseUrl, String token, Duration timeout) {
        this(baseUrl, token, timeout, null);
    }

    /** @param tls whom to trust for an https URL (the cluster's CA), or null for the JDK's default trust */
    public AgentClient(String baseUrl, String token, Duration timeout, SSLContext tls) {
        this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        this.token = token;
        this.timeout = timeout;
        // plain HTTP/1.1: the agent's server does not speak HTTP/2, so no h2c upgrade is attempted
        var builder = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5));
        if (tls != null) {
            builder.sslContext(tls);
        }
        this.http = builder.build();
    }

    /** The credential this client sends. */
    public String token() {
        return token;
    }

    public String baseUrl() {
        return baseUrl;
    }

    public static String encode(String pathSegment) {
        return URLEncoder.encode(pathSegment, StandardCharsets.UTF_8).replace("+", "%20");
    }

    public JsonNode get(String path) {
        return send("GET", path, null);
    }

    public JsonNode post(String path, Object body) {
        return send("POST", path, body);
    }

    public JsonNode put(String path, Object body) {
        return send("PUT", path, body);
    }

    public JsonNode delete(String path) {
        return send("DELETE", path, null);
    }

    /** Sends a raw text body (such as an XML file) with the given content type. */
    public JsonNode postText(String path, String contentType, String body) {
        var request = request(path).header("Content-Type", contentType)
            .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
        return exchange("POST", path, request);
    }

    private HttpRequest.Builder request(String path) {
        var builder = HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(timeout);
        if (token != null) {
            builder.header("Authorization", "Bearer " + token);
        }
        return builder;
    }

    private JsonNode send(String method, String path, Object body) {
        var publisher = body == null ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofByteArray(Json.bytes(body));
        var request = request(path).header("Content-Type", "application/json").method(method, publisher).build();
        return exchange(method, path, request);
    }

    private JsonNode exchange(String method, String path, HttpRequest request) {
        HttpResponse<byte[]> response;
        try {
            response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (ConnectException e) {
            throw new AgentClientException(0, "no agent answers at " + baseUrl
                + ": start one with 'nines up' or 'nines agent', or point --agent / NINES_AGENT at a running one", false);
        } catch (javax.net.ssl.SSLException e) {
            throw new AgentClientException(0, "TLS with " + baseUrl + " failed (" + e.getMessage() + "): nothing was sent;"
                + " trust the cluster's CA (NINES_CA=PATH of ca-cert.pem, in DATA/pki of any node) or use the agent's"
                + " loopback address", false);
        } catch (java.net.http.HttpTimeoutException e) {
            throw new AgentClientException(0, method + " " + path + " at " + baseUrl + " got no answer within "
                + timeout.toSeconds() + " s; it may or may not have happened", true);
        } catch (IOException e) {
            throw new AgentClientException(0, method + " " + path + " at " + baseUrl + " failed: " + e.getMessage()
                + "; it may or may not have happened", true);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AgentClientException(0, "interrupted while waiting for " + baseUrl, true);
        }
        JsonNode json;
        try {
            json = response.body().length == 0 ? Json.mapper().nullNode() : Json.mapper().readTree(response.body());
        } catch (IOException e) {
            throw new AgentClientException(response.statusCode(), "the agent at " + baseUrl
                + " answered with something that is not JSON (HTTP " + response.statusCode() + ")", false);
        }
        if (response.statusCode() >= 400) {
            String message = json.path("error").asText("HTTP " + response.statusCode());
            throw new AgentClientException(response.statusCode(), message, json.path("mayHaveHappened").asBoolean(false));
        }
        return json;
    }
}
