package fivenines.model.cman;

import java.util.List;
import java.util.Map;
import java.util.SortedMap;

/**
 * What a Red Hat cman {@code cluster.conf} holds, and how much of it maps onto the cluster
 * configuration.
 *
 * @param config what is imported, as configuration keys and values
 * @param report one line per element or attribute that is not imported, and notes
 * @param errors references that do not resolve; an import with errors is refused unless forced
 */
public record CmanImport(String clusterName, long configVersion, List<ClusterNode> nodes, List<FenceDevice> fenceDevices,
                         Map<String, String> cmanOptions, SortedMap<String, String> config, List<String> report,
                         List<String> errors) {

    /** A {@code <clusternode>}. */
    public record ClusterNode(String name, int nodeId, int votes, Map<String, List<FenceReference>> fenceMethods) {
    }

    /** A {@code <device>} inside a fence method: which fence device, with which arguments. */
    public record FenceReference(String device, Map<String, String> attributes) {
    }

    /** A {@code <fencedevice>}: an agent and its attributes. */
    public record FenceDevice(String name, String agent, Map<String, String> attributes) {
    }
}
