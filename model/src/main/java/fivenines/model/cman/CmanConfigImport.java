package fivenines.model.cman;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads a Red Hat cman {@code cluster.conf} (the seed's cluster configuration, kept in sync by
 * ccsd) and maps what it can onto the cluster configuration:
 * <ul>
 *   <li>{@code cluster.name}; {@code cman.ATTR} for each option of {@code <cman>};</li>
 *   <li>{@code node.NAME.nodeid}, {@code node.NAME.votes} (1 when not given);</li>
 *   <li>{@code node.NAME.fence.METHOD.N.device} and {@code node.NAME.fence.METHOD.N.ATTR} for the
 *       N-th device reference (from 1, in document order) of each fence method, and
 *       {@code node.NAME.fence.order}: the methods in document order (the order they are tried);</li>
 *   <li>{@code fence.device.NAME.agent} and {@code fence.device.NAME.ATTR}.</li>
 * </ul>
 * Names that cannot appear in a config key are sanitised, and the renaming is reported.
 * Sections with no counterpart (the resource manager's {@code <rm>}, {@code <totem>},
 * {@code <quorumd>}, {@code <fence_daemon>}, {@code <logging>} ...) are listed in
 * {@link CmanImport#report()}, one line per element or attribute, and not imported. Passwords are
 * imported, and the report says they are now secrets held in the cluster configuration.
 *
 * <p>Problems of meaning — a fence method naming a device no {@code <fencedevice>} defines,
 * duplicate node names or nodeids, a node without a name — do not stop the parse: they are
 * listed in {@link CmanImport#errors()}, and a caller must refuse to apply an import that has
 * errors unless the operator forces it. Text that cannot be read as a cluster.conf at all (XML
 * that is not well-formed, a root other than {@code <cluster>}, a config_version, nodeid or
 * votes that is not a number) throws {@link CmanConfigException}, with the line and column
 * where one is known.
 */
public final class CmanConfigImport {
    private static final Set<String> SECRET_ATTRIBUTES = Set.of("passwd", "password", "snmp_priv_passwd");
    private static final String TWO_NODE_NOTE =
        "two-node cluster: Raft needs a third voter; add a witness with `nines cluster join --witness`";

    private final ImportLedger ledger = new ImportLedger();
    private final Map<String, String> cmanOptions = new LinkedHashMap<>();
    private final List<CmanImport.ClusterNode> nodes = new ArrayList<>();
    private final List<CmanImport.FenceDevice> fenceDevices = new ArrayList<>();

    private CmanConfigImport() {
    }

    /**
     * Parses a cluster.conf.
     *
     * @throws CmanConfigException when the text is not a readable cluster.conf; nothing is imported
     */
    public static CmanImport parse(String xml) throws CmanConfigException {
        XmlElement root = XmlReader.read(xml);
        if (!root.name().equals("cluster")) {
            throw new CmanConfigException("the root element is <" + root.name() + "> (at " + root.position()
                + "), not <cluster>: this is not a cluster.conf");
        }
        return new CmanConfigImport().read(root);
    }

    private CmanImport read(XmlElement root) throws CmanConfigException {
        String clusterName = root.attribute("name");
        if (clusterName == null || clusterName.isBlank()) {
            throw new CmanConfigException("<cluster> at " + root.position() + " has no name attribute");
        }
        long configVersion = 0;
        if (root.attribute("config_version") == null) {
            ledger.report("note: <cluster> has no config_version; 0 is assumed");
        } else {
            configVersion = number(root, "config_version", 0, Long.MAX_VALUE);
        }
        ledger.put("cluster.name", clusterName, "the cluster name");
        reportOtherAttributes(root, Set.of("name", "config_version"));
        for (XmlElement section : root.children()) {
            switch (section.name()) {
                case "cman" -> readCman(section);
                case "clusternodes" -> readNodes(section);
                case "fencedevices" -> readFenceDevices(section);
                default -> ledger.report("not imported: " + section.path() + " (" + section.position() + "): "
                    + SectionHints.of(section.name()));
            }
        }
        checkReferences();
        if ("1".equals(cmanOptions.get("two_node"))) {
            ledger.report(TWO_NODE_NOTE);
            if (nodes.size() != 2) {
                ledger.report("note: two_node=\"1\" is set but " + nodes.size()
                    + " nodes are defined; cman allows two_node only with exactly two");
            }
        }
        return new CmanImport(clusterName, configVersion, List.copyOf(nodes), List.copyOf(fenceDevices),
            Collections.unmodifiableMap(cmanOptions), Collections.unmodifiableSortedMap(ledger.config),
            List.copyOf(ledger.report), List.copyOf(ledger.errors));
    }

    private void readCman(XmlElement cman) {
        cman.attributes().forEach((option, value) -> {
            cmanOptions.put(option, value);
            ledger.put("cman." + ledger.keyPart("cman option", option), value, "cman option " + option);
        });
        reportChildren(cman, "cman's own settings (multicast, keys) have no counterpart; the Raft store has its own transport");
    }

    private void readFenceDevices(XmlElement section) {
        for (XmlElement device : section.children()) {
            if (!device.name().equals("fencedevice")) {
                ledger.report("not imported: " + device.path() + " (" + device.position() + "): only <fencedevice> is read here");
                continue;
            }
            var attributes = new LinkedHashMap<>(device.attributes());
            String name = attributes.remove("name");
            String agent = attributes.remove("agent");
            if (name == null || name.isBlank()) {
                ledger.error("the <fencedevice> at " + device.position() + " has no name");
                continue;
            }
            if (fenceDevices.stream().anyMatch(d -> d.name().equals(name))) {
                ledger.error("fence device '" + name + "' is defined twice (again at " + device.position() + ")");
                continue;
            }
            if (agent == null || agent.isBlank()) {
                ledger.error("fence device '" + name + "' names no agent");
            }
            fenceDevices.add(new CmanImport.FenceDevice(name, agent == null ? "" : agent, Collections.unmodifiableMap(attributes)));
            String prefix = "fence.device." + ledger.keyPart("fence device", name);
            if (agent != null && !agent.isBlank()) {
                ledger.put(prefix + ".agent", agent, "the agent of fence device '" + name + "'");
            }
            putAttributes(prefix, attributes, "fence device '" + name + "'");
        }
    }

    private void readNodes(XmlElement section) throws CmanConfigException {
        var nodeIds = new HashMap<Integer, String>();
        for (XmlElement element : section.children()) {
            if (!element.name().equals("clusternode")) {
                ledger.report("not imported: " + element.path() + " (" + element.position() + "): only <clusternode> is read here");
                continue;
            }
            String name = element.attribute("name");
            String what = element.describe() + " at " + element.position();
            int nodeId = element.attribute("nodeid") == null ? 0 : (int) number(element, "nodeid", 1, Integer.MAX_VALUE);
            int votes = element.attribute("votes") == null ? 1 : (int) number(element, "votes", 0, Integer.MAX_VALUE);
            if (name == null || name.isBlank()) {
                ledger.error("the <clusternode> at " + element.position() + " has no name");
                continue;
            }
            if (nodes.stream().anyMatch(n -> n.name().equals(name))) {
                ledger.error("node '" + name + "' is defined twice (again at " + element.position() + ")");
                continue;
            }
            if (nodeId != 0) {
                String holder = nodeIds.putIfAbsent(nodeId, name);
                if (holder != null) {
                    ledger.error("nodeid " + nodeId + " of node '" + name + "' is also the nodeid of node '" + holder + "'");
                }
            }
            reportOtherAttributes(element, Set.of("name", "nodeid", "votes"));
            String prefix = "node." + ledger.keyPart("node", name);
            if (nodeId != 0) {
                ledger.put(prefix + ".nodeid", Integer.toString(nodeId), "the nodeid of " + what);
            }
            ledger.put(prefix + ".votes", Integer.toString(votes), "the votes of " + what);
            nodes.add(new CmanImport.ClusterNode(name, nodeId, votes, readFenceMethods(element, name, prefix)));
        }
    }

    private Map<String, List<CmanImport.FenceReference>> readFenceMethods(XmlElement node, String nodeName, String prefix) {
        var methods = new LinkedHashMap<String, List<CmanImport.FenceReference>>();
        for (XmlElement child : node.children()) {
            if (!child.name().equals("fence")) {
                ledger.report("not imported: " + child.path() + " of node '" + nodeName + "' (" + child.position() + "): "
                    + SectionHints.of(child.name()));
                continue;
            }
            for (XmlElement method : child.children()) {
                String methodName = method.attribute("name");
                if (!method.name().equals("method")) {
                    ledger.report("not imported: " + method.path() + " of node '" + nodeName + "' (" + method.position()
                        + "): only <method> is read inside <fence>");
                } else if (methodName == null || methodName.isBlank()) {
                    ledger.error("node '" + nodeName + "' has a fence <method> without a name at " + method.position());
                } else if (methods.containsKey(methodName)) {
                    ledger.error("node '" + nodeName + "' has fence method '" + methodName + "' twice (again at "
                        + method.position() + ")");
                } else {
                    String methodPrefix = prefix + ".fence." + ledger.keyPart("fence method", methodName);
                    methods.put(methodName, readDeviceReferences(method, nodeName, methodName, methodPrefix));
                }
            }
        }
        if (!methods.isEmpty()) {
            // the methods are tried in document order (fenced's levels)
            ledger.put(prefix + ".fence.order", String.join(",", methods.keySet().stream()
                .map(m -> ledger.keyPart("fence method", m)).toList()), "the order of node '" + nodeName + "''s fence methods");
        }
        return Collections.unmodifiableMap(methods);
    }

    private List<CmanImport.FenceReference> readDeviceReferences(XmlElement method, String nodeName, String methodName,
                                                                 String prefix) {
        var references = new ArrayList<CmanImport.FenceReference>();
        String what = "node '" + nodeName + "' fence method '" + methodName + "'";
        for (XmlElement device : method.children()) {
            if (!device.name().equals("device")) {
                ledger.report("not imported: " + device.path() + " of " + what + " (" + device.position()
                    + "): only <device> is read inside <method>");
                continue;
            }
            var attributes = new LinkedHashMap<>(device.attributes());
            String deviceName = attributes.remove("name");
            if (deviceName == null || deviceName.isBlank()) {
                ledger.error(what + " has a <device> without a name at " + device.position());
                continue;
            }
            references.add(new CmanImport.FenceReference(deviceName, Collections.unmodifiableMap(attributes)));
            String referencePrefix = prefix + "." + references.size();
            ledger.put(referencePrefix + ".device", deviceName, what + " device " + references.size());
            putAttributes(referencePrefix, attributes, what + " device " + references.size());
        }
        return List.copyOf(references);
    }

    private void putAttributes(String prefix, Map<String, String> attributes, String owner) {
        attributes.forEach((attribute, value) -> {
            String key = prefix + "." + ledger.keyPart("attribute", attribute);
            ledger.put(key, value, "attribute " + attribute + " of " + owner);
            if (SECRET_ATTRIBUTES.contains(attribute)) {
                ledger.report("secret: the " + attribute + " of " + owner + " is stored in the cluster config as '" + key
                    + "', readable by anyone holding the cluster token; a fence agent's passwd_script keeps it out");
            }
        });
    }

    private void checkReferences() {
        for (var node : nodes) {
            node.fenceMethods().forEach((method, references) -> references.stream()
                .filter(reference -> fenceDevices.stream().noneMatch(d -> d.name().equals(reference.device())))
                .forEach(reference -> ledger.error("node '" + node.name() + "' fence method '" + method
                    + "' names device '" + reference.device() + "', which no <fencedevice> defines")));
        }
    }

    private void reportOtherAttributes(XmlElement element, Set<String> known) {
        element.attributes().keySet().stream().filter(a -> !known.contains(a))
            .forEach(a -> ledger.report("not imported: attribute " + a + " of " + element.describe() + " ("
                + element.position() + ")"));
    }

    private void reportChildren(XmlElement element, String why) {
        element.children().forEach(c -> ledger.report("not imported: " + c.path() + " (" + c.position() + "): " + why));
    }

    private static long number(XmlElement element, String attribute, long min, long max) throws CmanConfigException {
        String text = element.attribute(attribute);
        try {
            long value = Long.parseLong(text.strip());
            if (value >= min && value <= max) {
                return value;
            }
        } catch (NumberFormatException e) {
            // reported below, with the range
        }
        throw new CmanConfigException(attribute + "=\"" + text + "\" of " + element.describe() + " at "
            + element.position() + " is not a whole number from " + min + " to " + max);
    }
}
