package fivenines.agent.api;

import com.fasterxml.jackson.databind.JsonNode;
import fivenines.model.codec.Json;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/** One API request, with its path parameters and query already split out. */
public record ApiRequest(String method, String path, Map<String, String> pathParameters, Map<String, String> query,
                         byte[] body) {

    public String path(String name) {
        return pathParameters.get(name);
    }

    public String query(String name, String fallback) {
        return query.getOrDefault(name, fallback);
    }

    public String text() {
        return new String(body, StandardCharsets.UTF_8);
    }

    /** The body as JSON; an empty body reads as an empty object. */
    public JsonNode json() {
        if (body.length == 0) {
            return Json.mapper().createObjectNode();
        }
        try {
            JsonNode node = Json.mapper().readTree(body);
            if (node == null || !node.isObject()) {
                throw ApiException.badRequest("the request body must be a JSON object");
            }
            return node;
        } catch (IOException e) {
            throw ApiException.badRequest("the request body is not valid JSON: " + e.getMessage());
        }
    }

    public String requireText(String field) {
        JsonNode value = json().get(field);
        if (value == null || !value.isTextual() || value.asText().isEmpty()) {
            throw ApiException.badRequest("field '" + field + "' is missing or not a string");
        }
        return value.asText();
    }
}
