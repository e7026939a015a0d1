package fivenines.model.cman;

import java.util.List;
import java.util.Map;

/**
 * One element of a parsed cluster.conf, with where it ends in the text so that a refusal can
 * point at the line to fix.
 *
 * @param path       the element's path from the root, such as {@code /cluster/clusternodes/clusternode}
 * @param attributes in document order
 * @param line       line of the end of the start tag, 1-based, or -1 when the parser gave none
 * @param column     column of the end of the start tag, 1-based, or -1
 */
record XmlElement(String name, String path, Map<String, String> attributes, List<XmlElement> children, int line,
                  int column) {

    /** The attribute's value, or null when absent. */
    String attribute(String attributeName) {
        return attributes.get(attributeName);
    }

    /** "line L, column C", for messages. */
    String position() {
        return line < 0 ? "an unknown position" : "line " + line + ", column " + column;
    }

    /** The path with the element's name attribute, which tells one node or device from another. */
    String describe() {
        String name = attributes.get("name");
        return name == null ? path : path + "[@name='" + name + "']";
    }
}
