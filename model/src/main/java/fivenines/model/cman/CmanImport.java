package fivenines.model.cman;

import java.util.List;
import java.util.Map;
import java.util.SortedMap;

/**
 * What a Red Hat cman {@code cluster.conf} holds, and how much of it maps onto the cluster
 * configuration. Maps keep the order of the document.
 *
 * @param clusterName   {@code <cluster name=..>}
 * @param configVersion {@code <cluster config_version=..>}, 0 when absent
 * @param cmanOptions   every attribute of {@code <cman>}, such as two_node and expected_votes
 * @param config        what is imported, as config keys and values the store accepts
 * @param report        one line per element or attribute that is not imported, names that were
 *                      sanitised, secrets now held in the config, and notes such as the need for a
 *                      witness in a two-node cluster
 * @param errors        references that do not resolve, duplicates, nameless nodes; an import with
 *                      errors must not be applied unless the operator forces it
 */
public record CmanImport(String clusterName, long configVersion, List<ClusterNode> nodes, List<FenceDevice> fenceDevices,
                         Map<String, String> cmanOptions, SortedMap<String, String> config, List<String> report,
                         List<String> errors) {

    /**
     * A {@code <clusternode>}.
     *
     * @param nodeId       0 when the element gives none (cman's node ids start at 1)
     * @param votes        1 when the element gives none
     * @param fenceMethods method name to its device references, in the order cman tries them
     */
    public record ClusterNode(String name, int nodeId, int votes, Map<String, List<FenceReference>> fenceMethods) {
    }

    /**
     * A {@code <device>} inside a fence method: which fence device, with which arguments
     * (port, nodename, option ...).
     */
    public record FenceReference(String device, Map<String, String> attributes) {
    }

    /** A {@code <fencedevice>}: its agent (empty when none is named) and its other attributes. */
    public record FenceDevice(String name, String agent, Map<String, String> attributes) {
    }
}
