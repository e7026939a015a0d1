package fivenines.model.cman;

import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;
import org.xml.sax.SAXParseException;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Reads a cman {@code cluster.conf} (the seed's cluster configuration, kept in sync by ccsd).
 * What maps onto the model becomes configuration keys: {@code cluster.name}, {@code cman.*},
 * {@code node.NAME.nodeid|votes}, {@code node.NAME.fence.METHOD.N.device} and its arguments,
 * {@code fence.device.NAME.agent} and its attributes. Sections with no counterpart (the
 * resource manager {@code <rm>}, {@code <totem>}, {@code <quorumd>}, {@code <fence_daemon>},
 * {@code <logging>}) are reported, not imported.
 *
 * <p>Unresolved references (a fence method naming an undefined device, duplicate node names or
 * ids) do not stop the parse; they are listed in {@link CmanImport#errors()} and the caller
 * refuses to apply such an import unless forced. XML that cannot be read throws
 * {@link CmanConfigException} and nothing is imported.
 */
public final class CmanConfigImport {
    private static final Pattern KEY_PART = Pattern.compile("[A-Za-z0-9_.:/-]+");

    private CmanConfigImport() {
    }

    public static CmanImport parse(String xml) throws CmanConfigException {
        Element root = parseXml(xml).getDocumentElement();
        if (!root.getTagName().equals("cluster")) {
            throw new CmanConfigException("the root element is <" + root.getTagName() + ">, not <cluster>: this is not a cluster.conf");
        }
        var config = new TreeMap<String, String>();
        var report = new ArrayList<String>();
        var errors = new ArrayList<String>();
        String clusterName = root.getAttribute("name");
        if (clusterName.isEmpty()) {
            throw new CmanConfigException("<cluster> has no name attribute");
        }
        long configVersion = number(root, "config_version", "cluster", 0);
        put(config, report, "cluster.name", clusterName, "cluster name");
        reportUnknownAttributes(root, Set.of("name", "config_version"), "cluster", report);

        var cmanOptions = new LinkedHashMap<String, String>();
        var nodes = new ArrayList<CmanImport.ClusterNode>();
        var devices = new ArrayList<CmanImport.FenceDevice>();
        for (Element section : children(root)) {
            switch (section.getTagName()) {
                case "cman" -> {
                    attributes(section).forEach((k, v) -> {
                        cmanOptions.put(k, v);
                        put(config, report, "cman." + k, v, "cman option " + k);
                    });
                    if ("1".equals(cmanOptions.get("two_node"))) {
                        report.add("note: two-node cluster: Raft needs a third voter; add a witness with "
                            + "`nines cluster join HOST:PORT --token T --witness`");
                    }
                    children(section).forEach(c -> report.add("not imported: <cluster><cman><" + c.getTagName() + ">"));
                }
                case "fencedevices" -> {
                    for (Element device : children(section)) {
                        if (!device.getTagName().equals("fencedevice")) {
                            report.add("not imported: <fencedevices><" + device.getTagName() + ">");
                            continue;
                        }
                        var attributes = attributes(device);
                        String name = attributes.remove("name");
                        String agent = attributes.remove("agent");
                        if (name == null || name.isEmpty()) {
                            errors.add("a <fencedevice> has no name");
                            continue;
                        }
                        if (devices.stream().anyMatch(d -> d.name().equals(name))) {
                            errors.add("fence device '" + name + "' is defined twice");
                            continue;
                        }
                        if (agent == null || agent.isEmpty()) {
                            errors.add("fence device '" + name + "' names no agent");
                        }
                        devices.add(new CmanImport.FenceDevice(name, agent, Map.copyOf(attributes)));
                        put(config, report, "fence.device." + name + ".agent", agent == null ? "" : agent, "fence device " + name);
                        attributes.forEach((k, v) -> {
                            put(config, report, "fence.device." + name + "." + k, v, "fence device " + name + " attribute " + k);
                            if (k.startsWith("passwd")) {
                                report.add("note: the password of fence device '" + name
                                    + "' is stored in the cluster configuration, readable by anyone holding the cluster token");
                            }
                        });
                    }
                }
                case "clusternodes" -> {
                    for (Element element : children(section)) {
                        if (!element.getTagName().equals("clusternode")) {
                            report.add("not imported: <clusternodes><" + element.getTagName() + ">");
                            continue;
                        }
                        var node = clusterNode(element, config, report, errors, nodes);
                        if (node != null) {
                            nodes.add(node);
                        }
                    }
                }
                default -> report.add("not imported: <cluster><" + section.getTagName() + "> (no counterpart in fivenines"
                    + hint(section.getTagName()) + ")");
            }
        }
        var deviceNames = new HashSet<String>();
        devices.forEach(d -> deviceNames.add(d.name()));
        for (var node : nodes) {
            node.fenceMethods().forEach((method, references) -> references.stream()
                .filter(r -> !deviceNames.contains(r.device()))
                .forEach(r -> errors.add("node '" + node.name() + "' fence method '" + method + "' names device '" + r.device()
                    + "', which no <fencedevice> defines")));
        }
        return new CmanImport(clusterName, configVersion, List.copyOf(nodes), List.copyOf(devices), Map.copyOf(cmanOptions),
            config, List.copyOf(report), List.copyOf(errors));
    }

    private static CmanImport.ClusterNode clusterNode(Element element, Map<String, String> config, List<String> report,
                                                      List<String> errors, List<CmanImport.ClusterNode> seen)
        throws CmanConfigException {
        String name = element.getAttribute("name");
        if (name.isEmpty()) {
            errors.add("a <clusternode> has no name");
            return null;
        }
        int nodeId = (int) number(element, "nodeid", "clusternode " + name, 0);
        int votes = (int) number(element, "votes", "clusternode " + name, 1);
        if (seen.stream().anyMatch(n -> n.name().equals(name))) {
            errors.add("node '" + name + "' is defined twice");
            return null;
        }
        if (nodeId != 0 && seen.stream().anyMatch(n -> n.nodeId() == nodeId)) {
            errors.add("nodeid " + nodeId + " of node '" + name + "' is used by another node");
        }
        reportUnknownAttributes(element, Set.of("name", "nodeid", "votes"), "clusternode " + name, report);
        if (nodeId != 0) {
            put(config, report, "node." + name + ".nodeid", Integer.toString(nodeId), "node " + name);
        }
        put(config, report, "node." + name + ".votes", Integer.toString(votes), "node " + name);
        var methods = new LinkedHashMap<String, List<CmanImport.FenceReference>>();
        for (Element child : children(element)) {
            if (!child.getTagName().equals("fence")) {
                report.add("not imported: <clusternode name=\"" + name + "\"><" + child.getTagName() + ">");
                continue;
            }
            for (Element method : children(child)) {
                String methodName = method.getAttribute("name");
                if (!method.getTagName().equals("method") || methodName.isEmpty()) {
                    errors.add("node '" + name + "' has a fence <" + method.getTagName() + "> without a name");
                    continue;
                }
                var references = new ArrayList<CmanImport.FenceReference>();
                int n = 0;
                for (Element device : children(method)) {
                    var attributes = attributes(device);
                    String deviceName = attributes.remove("name");
                    if (deviceName == null || deviceName.isEmpty()) {
                        errors.add("node '" + name + "' fence method '" + methodName + "' has a <device> without a name");
                        continue;
                    }
                    n++;
                    references.add(new CmanImport.FenceReference(deviceName, Map.copyOf(attributes)));
                    String prefix = "node." + name + ".fence." + methodName + "." + n;
                    put(config, report, prefix + ".device", deviceName, "fence reference");
                    attributes.forEach((k, v) -> put(config, report, prefix + "." + k, v, "fence reference attribute " + k));
                }
                methods.put(methodName, List.copyOf(references));
            }
        }
        return new CmanImport.ClusterNode(name, nodeId, votes, methods);
    }

    private static String hint(String tag) {
        return switch (tag) {
            case "rm" -> ": VMs and their placement are defined with 'nines vm'";
            case "totem", "quorumd" -> ": membership and quorum come from the Raft store";
            case "fence_daemon" -> ": fencing delays are set per fence device";
            default -> "";
        };
    }

    private static void put(Map<String, String> config, List<String> report, String key, String value, String what) {
        if (!KEY_PART.matcher(key).matches() || key.length() > 200) {
            report.add("not imported: " + what + " (its name gives the key '" + key + "', which is not a valid config key)");
            return;
        }
        config.put(key, value);
    }

    private static void reportUnknownAttributes(Element element, Set<String> known, String what, List<String> report) {
        attributes(element).keySet().stream().filter(a -> !known.contains(a))
            .forEach(a -> report.add("not imported: attribute " + a + " of " + what));
    }

    private static long number(Element element, String attribute, String what, long fallback) throws CmanConfigException {
        String text = element.getAttribute(attribute);
        if (text.isEmpty()) {
            return fallback;
        }
        try {
            long value = Long.parseLong(text.strip());
            if (value < 0) {
                throw new NumberFormatException();
            }
            return value;
        } catch (NumberFormatException e) {
            throw new CmanConfigException(attribute + "=\"" + text + "\" of " + what + " is not a non-negative number");
        }
    }

    private static Map<String, String> attributes(Element element) {
        var map = new LinkedHashMap<String, String>();
        var attributes = element.getAttributes();
        for (int i = 0; i < attributes.getLength(); i++) {
            map.put(attributes.item(i).getNodeName(), attributes.item(i).getNodeValue());
        }
        return map;
    }

    private static List<Element> children(Element element) {
        var list = new ArrayList<Element>();
        for (Node child = element.getFirstChild(); child != null; child = child.getNextSibling()) {
            if (child instanceof Element e) {
                list.add(e);
            }
        }
        return list;
    }

    private static Document parseXml(String xml) throws CmanConfigException {
        if (xml == null || xml.isBlank()) {
            throw new CmanConfigException("the cluster.conf is empty");
        }
        try {
            var factory = DocumentBuilderFactory.newInstance();
            factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            factory.setFeature("http://xml.org/sax/features/external-general-entities", false);
            factory.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
            factory.setExpandEntityReferences(false);
            factory.setXIncludeAware(false);
            var builder = factory.newDocumentBuilder();
            builder.setErrorHandler(new org.xml.sax.ErrorHandler() {
                @Override
                public void warning(SAXParseException exception) {
                    // warnings do not stop a parse
                }

                @Override
                public void error(SAXParseException exception) throws SAXException {
                    throw exception;
                }

                @Override
                public void fatalError(SAXParseException exception) throws SAXException {
                    throw exception;
                }
            });
            return builder.parse(new InputSource(new StringReader(xml)));
        } catch (SAXParseException e) {
            throw new CmanConfigException("cluster.conf is not well-formed XML at line " + e.getLineNumber() + ", column "
                + e.getColumnNumber() + ": " + e.getMessage());
        } catch (SAXException | IOException e) {
            throw new CmanConfigException("cluster.conf cannot be read: " + e.getMessage());
        } catch (ParserConfigurationException e) {
            throw new IllegalStateException("the JDK's XML parser cannot be configured securely", e);
        }
    }
}
