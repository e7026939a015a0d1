package fivenines.manager.fence;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Fence devices and methods in the config keys that a cman import writes. */
class FenceConfigTest {
    private final Map<String, String> config = new HashMap<>();

    private void apply(FenceConfig.Change change) {
        change.unset().forEach(config::remove);
        config.putAll(change.set());
    }

    private FenceConfig fence() {
        return new FenceConfig(config);
    }

    @Test
    void keysWrittenByACmanImportReadAsDevicesAndMethodsInTheirOrder() {
        // as CmanConfigImport maps the seed's cluster.conf
        config.putAll(Map.of(
            "fence.device.apc.agent", "fence_apc", "fence.device.apc.ipaddr", "10.0.0.9", "fence.device.apc.passwd", "s3cret",
            "fence.device.human.agent", "fence_manual",
            "node.n1.fence.power.1.device", "apc", "node.n1.fence.power.1.port", "3",
            "node.n1.fence.last_resort.1.device", "human", "node.n1.fence.last_resort.1.nodename", "n1",
            "node.n1.fence.order", "power,last_resort"));
        var methods = fence().methods("n1");
        assertEquals(List.of("power", "last_resort"), methods.stream().map(FenceMethod::name).toList());
        assertEquals("fence_apc", methods.getFirst().steps().getFirst().device().agent());
        assertEquals(Map.of("port", "3"), methods.getFirst().steps().getFirst().nodeOptions());
        assertTrue(methods.get(1).manual());
        assertEquals("********", FenceConfig.shown(fence().devices().get("apc").options()).get("passwd"));
        assertEquals(List.of("n1"), fence().fencedNodes());
    }

    @Test
    void addingAndRemovingDevicesAndMethodsKeepsTheOrderAndRefusesWhatWouldDangle() {
        apply(fence().addDevice("bmc2", "fence_ipmilan", Map.of("ip", "10.0.0.2", "lanplus", "1")));
        apply(fence().addDevice("pdu", "fence_dummy", Map.of()));
        apply(fence().addMethod("n2", "ipmi", List.of("bmc2"), Map.of()));
        apply(fence().addMethod("n2", "power", List.of("pdu"), Map.of("port", "7")));
        assertEquals(List.of("ipmi", "power"), fence().methods("n2").stream().map(FenceMethod::name).toList());

        var before = Map.copyOf(config);
        var used = assertThrows(IllegalArgumentException.class, () -> fence().removeDevice("pdu"));
        assertTrue(used.getMessage().contains("used by node 'n2'"), used.getMessage());
        assertThrows(IllegalArgumentException.class, () -> fence().addMethod("n2", "x", List.of("nosuch"), Map.of()));
        assertThrows(IllegalArgumentException.class, () -> fence().addMethod("n2", "ipmi", List.of("pdu"), Map.of()));
        assertThrows(IllegalArgumentException.class, () -> fence().addDevice("pdu", "fence_dummy", Map.of()));
        assertThrows(IllegalArgumentException.class, () -> fence().addDevice("a.b", "fence_dummy", Map.of()));
        assertEquals(before, config, "refused changes change nothing");

        apply(fence().removeMethod("n2", "ipmi"));
        assertEquals(List.of("power"), fence().methods("n2").stream().map(FenceMethod::name).toList());
        apply(fence().removeMethod("n2", "power"));
        apply(fence().removeDevice("pdu"));
        assertEquals(List.of("bmc2"), List.copyOf(fence().devices().keySet()));
        assertTrue(config.keySet().stream().noneMatch(k -> k.startsWith("node.n2.")), config.toString());
    }

    @Test
    void aMethodNamingAnUndefinedDeviceIsAnErrorThatSaysWhich() {
        config.put("node.n3.fence.power.1.device", "gone");
        var error = assertThrows(IllegalArgumentException.class, () -> fence().methods("n3"));
        assertTrue(error.getMessage().contains("fence device 'gone', which is not defined"), error.getMessage());
    }
}
