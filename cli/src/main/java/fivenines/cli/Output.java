package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import fivenines.model.codec.Json;

import java.io.PrintStream;

/** Prints API answers: as indented JSON with --json, or through a human formatter. */
final class Output {
    private Output() {
    }

    static void json(PrintStream out, JsonNode node) {
        try {
            out.println(Json.mapper().writer().with(SerializationFeature.INDENT_OUTPUT).writeValueAsString(node));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
