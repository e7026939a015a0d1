package fivenines.manager.fence;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Fence devices and each node's methods, kept in the cluster configuration under the keys that
 * {@code config import} of a cman cluster.conf writes:
 * <ul>
 * <li>{@code fence.device.NAME.agent} and {@code fence.device.NAME.OPTION} (options given to the agent);
 * <li>{@code node.NODE.fence.METHOD.N.device} and {@code node.NODE.fence.METHOD.N.OPTION} for the N-th
 *     device of a method (options that name the node on that device: port, plug ...);
 * <li>{@code node.NODE.fence.order}: the methods in the order they are tried (cluster.conf's document
 *     order); methods it does not name come after, by name.
 * </ul>
 * Pure: reads a map of keys, and computes the keys a change sets and removes.
 */
public final class FenceConfig {
    static final String DEVICE = "fence.device.";
    private static final java.util.Set<String> SECRETS = java.util.Set.of("passwd", "password", "snmp_priv_passwd");

    private final Map<String, String> config;

    public FenceConfig(Map<String, String> config) {
        this.config = Map.copyOf(config);
    }

    public Map<String, FenceDevice> devices() {
        var agents = new TreeMap<String, String>();
        var options = new HashMap<String, Map<String, String>>();
        config.forEach((key, value) -> {
            if (key.startsWith(DEVICE)) {
                String rest = key.substring(DEVICE.length());
                int dot = rest.lastIndexOf('.');
                if (dot > 0) {
                    String name = rest.substring(0, dot);
                    String option = rest.substring(dot + 1);
                    if (option.equals("agent")) {
                        agents.put(name, value);
                    } else {
                        options.computeIfAbsent(name, n -> new TreeMap<>()).put(option, value);
                    }
                }
            }
        });
        var devices = new LinkedHashMap<String, FenceDevice>();
        agents.forEach((name, agent) -> devices.put(name, new FenceDevice(name, agent, options.getOrDefault(name, Map.of()))));
        return devices;
    }

    /** The node's methods in the order they are tried; a reference to an unknown device is an error. */
    public List<FenceMethod> methods(String node) {
        String prefix = "node." + node + ".fence.";
        var steps = new TreeMap<String, TreeMap<Integer, Map<String, String>>>();
        config.forEach((key, value) -> {
            if (key.startsWith(prefix) && !key.equals(prefix + "order")) {
                String[] parts = key.substring(prefix.length()).split("\\.");
                if (parts.length == 3 && parts[1].matches("\\d+")) {
                    steps.computeIfAbsent(parts[0], m -> new TreeMap<>())
                        .computeIfAbsent(Integer.parseInt(parts[1]), n -> new TreeMap<>()).put(parts[2], value);
                }
            }
        });
        var devices = devices();
        var methods = new ArrayList<FenceMethod>();
        for (String name : order(node, steps.keySet())) {
            var refs = steps.get(name);
            if (refs == null) {
                continue;
            }
            var list = new ArrayList<FenceMethod.Step>();
            refs.forEach((n, options) -> {
                var nodeOptions = new TreeMap<>(options);
                String device = nodeOptions.remove("device");
                FenceDevice known = device == null ? null : devices.get(device);
                if (known == null) {
                    throw new IllegalArgumentException("node '" + node + "' fence method '" + name + "' device " + n
                        + " names " + (device == null ? "no device" : "fence device '" + device + "', which is not defined")
                        + "; see 'nines fence list'");
                }
                list.add(new FenceMethod.Step(known, nodeOptions));
            });
            methods.add(new FenceMethod(name, list));
        }
        return methods;
    }

    /** Every node that has a fence method. */
    public List<String> fencedNodes() {
        var nodes = new TreeSet<String>();
        config.keySet().forEach(key -> {
            if (key.startsWith("node.") && key.contains(".fence.")) {
                nodes.add(key.substring("node.".length(), key.indexOf(".fence.")));
            }
        });
        return List.copyOf(nodes);
    }

    private List<String> order(String node, java.util.Set<String> present) {
        var order = new ArrayList<String>();
        String listed = config.get("node." + node + ".fence.order");
        if (listed != null) {
            Arrays.stream(listed.split(",")).map(String::strip).filter(present::contains).forEach(order::add);
        }
        present.stream().filter(m -> !order.contains(m)).forEach(order::add);
        return order;
    }

    // ---- changes: the keys to set and to remove ----

    public record Change(Map<String, String> set, List<String> unset) {
    }

    public Change addDevice(String name, String agent, Map<String, String> options) {
        new FenceDevice(name, agent, options); // validates
        requireKeyPart("fence device", name);
        if (devices().containsKey(name)) {
            throw new IllegalArgumentException("fence device '" + name + "' exists; remove it first ('nines fence device remove "
                + name + "')");
        }
        var set = new TreeMap<String, String>();
        set.put(DEVICE + name + ".agent", agent);
        options.forEach((option, value) -> set.put(DEVICE + name + "." + requireKeyPart("option", option), value));
        return new Change(set, List.of());
    }

    public Change removeDevice(String name) {
        if (!devices().containsKey(name)) {
            throw new IllegalArgumentException("no fence device '" + name + "'; 'nines fence list' shows them");
        }
        for (String node : fencedNodes()) {
            for (String key : keys("node." + node + ".fence.")) {
                if (key.endsWith(".device") && config.get(key).equals(name)) {
                    throw new IllegalArgumentException("fence device '" + name + "' is used by node '" + node + "' ("
                        + key + "); remove that method first");
                }
            }
        }
        return new Change(Map.of(), keys(DEVICE + name + "."));
    }

    public Change addMethod(String node, String method, List<String> devices, Map<String, String> nodeOptions) {
        requireKeyPart("node", node);
        requireKeyPart("fence method", method);
        if (method.equals("order")) {
            throw new IllegalArgumentException("'order' cannot name a fence method");
        }
        if (devices.isEmpty()) {
            throw new IllegalArgumentException("fence method '" + method + "' needs at least one device");
        }
        var known = devices();
        for (String device : devices) {
            if (!known.containsKey(device)) {
                throw new IllegalArgumentException("no fence device '" + device + "'; add it first ('nines fence device add "
                    + device + " fence_AGENT KEY=VALUE ...')");
            }
        }
        String prefix = "node." + node + ".fence." + method + ".";
        if (!keys(prefix).isEmpty()) {
            throw new IllegalArgumentException("node '" + node + "' has fence method '" + method + "'; remove it first");
        }
        var set = new TreeMap<String, String>();
        for (int i = 0; i < devices.size(); i++) {
            set.put(prefix + (i + 1) + ".device", devices.get(i));
            for (var option : nodeOptions.entrySet()) {
                set.put(prefix + (i + 1) + "." + requireKeyPart("option", option.getKey()), option.getValue());
            }
        }
        var order = new ArrayList<>(methods(node).stream().map(FenceMethod::name).toList());
        order.add(method);
        set.put("node." + node + ".fence.order", String.join(",", order));
        return new Change(set, List.of());
    }

    public Change removeMethod(String node, String method) {
        var keys = keys("node." + node + ".fence." + method + ".");
        if (keys.isEmpty()) {
            throw new IllegalArgumentException("node '" + node + "' has no fence method '" + method + "'; 'nines fence list' shows them");
        }
        var order = new ArrayList<>(methods(node).stream().map(FenceMethod::name).filter(m -> !m.equals(method)).toList());
        var set = new TreeMap<String, String>();
        var unset = new ArrayList<>(keys);
        if (order.isEmpty()) {
            if (config.containsKey("node." + node + ".fence.order")) {
                unset.add("node." + node + ".fence.order");
            }
        } else {
            set.put("node." + node + ".fence.order", String.join(",", order));
        }
        return new Change(set, unset);
    }

    /** A device's options with secrets hidden, for listings. */
    public static Map<String, String> shown(Map<String, String> options) {
        var shown = new TreeMap<String, String>();
        options.forEach((k, v) -> shown.put(k, SECRETS.contains(k) ? "********" : v));
        return shown;
    }

    private List<String> keys(String prefix) {
        return config.keySet().stream().filter(k -> k.startsWith(prefix)).sorted().toList();
    }

    private static String requireKeyPart(String what, String part) {
        if (part == null || !part.matches("[A-Za-z0-9_-]+")) {
            throw new IllegalArgumentException(what + " '" + part + "' may hold only letters, digits, '_' and '-'");
        }
        return part;
    }
}
