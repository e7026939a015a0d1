package fivenines.manager.fence;

import java.util.Map;

/**
 * A fence device as cluster.conf's {@code fencedevice}: a name, the standard agent that drives
 * it ({@code fence_ipmilan}, {@code fence_dummy}, {@code fence_manual} ...) and the options given
 * to that agent on its standard input (ip, username, password, lanplus ...).
 */
public record FenceDevice(String name, String agent, Map<String, String> options) {
    public FenceDevice {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a fence device needs a name");
        }
        if (agent == null || !agent.matches("fence_?[a-z0-9_]+")) {
            throw new IllegalArgumentException("fence device '" + name + "': '" + agent
                + "' is not a fence agent's name (fence_ipmilan, fence_dummy, fence_manual ...)");
        }
        options = Map.copyOf(options);
    }

    /** The seed's manual fencing: an operator confirms that the node is off ({@code nines fence ack}). */
    public boolean manual() {
        return agent.equals("fence_manual") || agent.equals("fencemanual");
    }
}
