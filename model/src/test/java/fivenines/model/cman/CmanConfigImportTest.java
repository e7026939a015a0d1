package fivenines.model.cman;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CmanConfigImportTest {
    static final String SEED = """
        <?xml version="1.0"?>
        <cluster name="blenke" config_version="42">
          <cman two_node="1" expected_votes="1"/>
          <fence_daemon post_fail_delay="0" post_join_delay="3"/>
          <clusternodes>
            <clusternode name="node0" nodeid="1" votes="1">
              <fence>
                <method name="power">
                  <device name="apc" port="1" switch="1"/>
                </method>
                <method name="ipmi">
                  <device name="ipmi0"/>
                </method>
              </fence>
            </clusternode>
            <clusternode name="node1" nodeid="2">
              <fence>
                <method name="power"><device name="apc" port="2" switch="1"/></method>
              </fence>
            </clusternode>
            <clusternode name="node2" nodeid="3" votes="1"/>
          </clusternodes>
          <fencedevices>
            <fencedevice name="apc" agent="fence_apc" ipaddr="10.0.0.50" login="apc" passwd="apc"/>
            <fencedevice name="ipmi0" agent="fence_ipmilan" ipaddr="10.0.0.60" login="admin" passwd="secret"/>
          </fencedevices>
          <rm>
            <failoverdomains/>
            <resources/>
          </rm>
        </cluster>
        """;

    @Test
    void theSeedsClusterConfMapsExactly() throws Exception {
        CmanImport imported = CmanConfigImport.parse(SEED);
        assertEquals("blenke", imported.clusterName());
        assertEquals(42, imported.configVersion());
        assertEquals(List.of("node0", "node1", "node2"), imported.nodes().stream().map(CmanImport.ClusterNode::name).toList());
        assertEquals(Map.of("two_node", "1", "expected_votes", "1"), imported.cmanOptions());
        assertEquals(List.of("power", "ipmi"), List.copyOf(imported.nodes().getFirst().fenceMethods().keySet()));
        var config = imported.config();
        assertEquals("blenke", config.get("cluster.name"));
        assertEquals("1", config.get("cman.two_node"));
        assertEquals("1", config.get("node.node0.nodeid"));
        assertEquals("1", config.get("node.node1.votes"), "votes default to 1");
        assertEquals("apc", config.get("node.node0.fence.power.1.device"));
        assertEquals("1", config.get("node.node0.fence.power.1.port"));
        assertEquals("ipmi0", config.get("node.node0.fence.ipmi.1.device"));
        assertEquals("fence_ipmilan", config.get("fence.device.ipmi0.agent"));
        assertEquals("10.0.0.50", config.get("fence.device.apc.ipaddr"));
        assertEquals(24, config.size(), config.toString());
        assertTrue(imported.errors().isEmpty(), imported.errors().toString());
        assertTrue(imported.report().stream().anyMatch(l -> l.contains("<rm>")), imported.report().toString());
        assertTrue(imported.report().stream().anyMatch(l -> l.contains("<fence_daemon>")), imported.report().toString());
        assertTrue(imported.report().stream().anyMatch(l -> l.contains("witness")), imported.report().toString());
        assertTrue(imported.report().stream().anyMatch(l -> l.contains("password of fence device 'apc'")));
    }

    @Test
    void unresolvedReferencesAreErrorsButTheRestIsRead() throws Exception {
        String xml = SEED.replace("<device name=\"ipmi0\"/>", "<device name=\"drac\"/>")
            .replace("<clusternode name=\"node2\" nodeid=\"3\"", "<clusternode name=\"node2\" nodeid=\"2\"");
        CmanImport imported = CmanConfigImport.parse(xml);
        assertEquals(2, imported.errors().size(), imported.errors().toString());
        assertTrue(imported.errors().stream().anyMatch(e -> e.contains("'drac'")));
        assertTrue(imported.errors().stream().anyMatch(e -> e.contains("nodeid 2")));
    }

    @Test
    void malformedInputThrowsWithAPlaceToLook() {
        var broken = assertThrows(CmanConfigException.class, () -> CmanConfigImport.parse("<cluster name=\"x\"><cman></cluster>"));
        assertTrue(broken.getMessage().contains("line 1"), broken.getMessage());
        assertTrue(assertThrows(CmanConfigException.class, () -> CmanConfigImport.parse("<config/>")).getMessage().contains("<cluster>"));
        assertTrue(assertThrows(CmanConfigException.class, () -> CmanConfigImport.parse(
            "<cluster name=\"x\" config_version=\"seven\"/>")).getMessage().contains("config_version"));
        assertTrue(assertThrows(CmanConfigException.class, () -> CmanConfigImport.parse(
            "<cluster name=\"x\"><clusternodes><clusternode name=\"a\" votes=\"-1\"/></clusternodes></cluster>"))
            .getMessage().contains("votes"));
        assertThrows(CmanConfigException.class, () -> CmanConfigImport.parse(""));
        assertThrows(CmanConfigException.class, () -> CmanConfigImport.parse(
            "<!DOCTYPE cluster [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><cluster name=\"&x;\"/>"), "no external entities");
    }

    @Property(tries = 500)
    void anyInputGivesAnImportOrACleanRefusal(@ForAll String text) {
        for (String input : List.of(text, "<cluster name=\"c\">" + text + "</cluster>")) {
            try {
                CmanConfigImport.parse(input);
            } catch (CmanConfigException expected) {
                assertTrue(!expected.getMessage().isBlank());
            }
        }
    }
}
