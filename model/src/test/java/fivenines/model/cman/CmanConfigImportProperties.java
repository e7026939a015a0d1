package fivenines.model.cman;

import fivenines.model.state.Names;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;

class CmanConfigImportProperties {

    @Property(tries = 500)
    void anyTextGivesAnImportOrARefusal(@ForAll String text) {
        for (String input : List.of(text, "<cluster name=\"c\" config_version=\"1\">" + text + "</cluster>")) {
            parseOrRefuse(input);
        }
    }

    /**
     * Cluster-shaped text gives an import or a refusal, and whatever is imported is accepted by
     * the store as it stands, so applying it cannot half-fail.
     */
    @Property(tries = 500)
    void everyImportedKeyAndValueIsOneTheStoreAccepts(@ForAll("clusterShapedText") String xml) {
        CmanImport imported = parseOrRefuse(xml);
        if (imported != null) {
            imported.config().forEach((key, value) -> {
                Names.requireConfigKey(key);
                Names.requireConfigValue(key, value);
            });
        }
    }

    private static CmanImport parseOrRefuse(String xml) {
        try {
            return CmanConfigImport.parse(xml);
        } catch (CmanConfigException refused) {
            assertFalse(refused.getMessage().isBlank());
            return null;
        }
    }

    /** Elements and attributes of cluster.conf, nested at random, with names and values that are often wrong. */
    @Provide
    Arbitrary<String> clusterShapedText() {
        Arbitrary<String> element = element(3);
        return Combinators.combine(attributes(), element.list().ofMaxSize(6))
            .as((attributes, children) -> "<cluster" + attributes + ">" + String.join("", children) + "</cluster>");
    }

    private static Arbitrary<String> element(int depth) {
        Arbitrary<String> tag = Arbitraries.of("cman", "clusternodes", "clusternode", "fence", "method", "device",
            "fencedevices", "fencedevice", "rm", "totem", "quorumd", "x");
        if (depth == 0) {
            return Combinators.combine(tag, attributes()).as((t, a) -> "<" + t + a + "/>");
        }
        return Combinators.combine(tag, attributes(), element(depth - 1).list().ofMaxSize(4))
            .as((t, a, children) -> "<" + t + a + ">" + String.join("", children) + "</" + t + ">");
    }

    private static Arbitrary<String> attributes() {
        Arbitrary<String> name = Arbitraries.of("name", "nodeid", "votes", "config_version", "agent", "port", "passwd",
            "two_node", "ipaddr", "a.b", "x-y");
        Arbitrary<String> value = Arbitraries.oneOf(
            Arbitraries.of("1", "0", "-1", "2", "99999999999", "node0", "apc", "", " ", "a b", "p#1"),
            Arbitraries.strings().withCharRange('0', 'z').ofMaxLength(8),
            Arbitraries.strings().withChars("ab .#é/:&").ofMaxLength(230).map(CmanConfigImportProperties::escape),
            Arbitraries.of("&#13;", "&#9;x", "&#10;"));
        return Combinators.combine(name, value).as((n, v) -> " " + n + "=\"" + v + "\"")
            .list().ofMaxSize(4)
            .map(list -> String.join("", list.stream().distinct().toList()))
            .filter(attributes -> !repeatsAName(attributes));
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;");
    }

    private static boolean repeatsAName(String attributes) {
        var names = attributes.split("=\"[^\"]*\"");
        return java.util.Arrays.stream(names).map(String::strip).distinct().count() < names.length;
    }
}
