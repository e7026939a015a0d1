package fivenines.manager.fence;

import java.util.List;
import java.util.Map;

/**
 * One level of a node's fencing, as cluster.conf's {@code clusternode/fence/method}: every step
 * must succeed for the method to succeed (two power supplies, two switches); methods are tried
 * in order.
 */
public record FenceMethod(String name, List<Step> steps) {
    /** A device, with the options that name this node on it (port, plug, ipaddr ...). */
    public record Step(FenceDevice device, Map<String, String> nodeOptions) {
        public Step {
            nodeOptions = Map.copyOf(nodeOptions);
        }
    }

    public FenceMethod {
        steps = List.copyOf(steps);
        if (steps.isEmpty()) {
            throw new IllegalArgumentException("fence method '" + name + "' has no device");
        }
    }

    public boolean manual() {
        return steps.stream().anyMatch(s -> s.device().manual());
    }
}
