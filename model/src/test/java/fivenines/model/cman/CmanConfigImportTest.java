package fivenines.model.cman;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CmanConfigImportTest {
    /** A RHEL 4 cluster suite configuration as system-config-cluster wrote it in 2005. */
    static final String SEED = """
        <?xml version="1.0"?>
        <cluster name="blenke" config_version="42">
          <cman two_node="1" expected_votes="1"/>
          <fence_daemon post_fail_delay="0" post_join_delay="3"/>
          <clusternodes>
            <clusternode name="node0.blenke.lan" nodeid="1" votes="1">
              <fence>
                <method name="power">
                  <device name="apc" port="1" switch="1" option="off"/>
                  <device name="apc2" port="1" switch="1" option="off"/>
                </method>
                <method name="ipmi">
                  <device name="ipmi-node0"/>
                </method>
              </fence>
            </clusternode>
            <clusternode name="node1.blenke.lan" nodeid="2">
              <fence>
                <method name="power"><device name="apc" port="2" switch="1"/></method>
              </fence>
            </clusternode>
            <clusternode name="node2.blenke.lan" nodeid="3" votes="1">
              <fence>
                <method name="human"><device name="last-resort" nodename="node2.blenke.lan"/></method>
              </fence>
            </clusternode>
          </clusternodes>
          <fencedevices>
            <fencedevice name="apc" agent="fence_apc" ipaddr="10.0.0.50" login="apc" passwd="apc"/>
            <fencedevice name="apc2" agent="fence_apc" ipaddr="10.0.0.51" login="apc" passwd="apc"/>
            <fencedevice name="ipmi-node0" agent="fence_ipmilan" ipaddr="10.0.0.60" login="admin" passwd="calvin"/>
            <fencedevice name="last-resort" agent="fence_manual"/>
          </fencedevices>
          <rm>
            <failoverdomains>
              <failoverdomain name="web" ordered="1" restricted="0">
                <failoverdomainnode name="node0.blenke.lan" priority="1"/>
                <failoverdomainnode name="node1.blenke.lan" priority="2"/>
              </failoverdomain>
            </failoverdomains>
            <resources><ip address="10.0.0.80" monitor_link="1"/></resources>
            <service autostart="1" domain="web" name="httpd"><ip ref="10.0.0.80"/></service>
          </rm>
        </cluster>
        """;

    @Test
    void aClusterConfFrom2005MapsExactly() throws Exception {
        CmanImport imported = CmanConfigImport.parse(SEED);

        assertEquals("blenke", imported.clusterName());
        assertEquals(42, imported.configVersion());
        assertEquals(Map.of("two_node", "1", "expected_votes", "1"), imported.cmanOptions());
        assertEquals(List.of(
            new CmanImport.ClusterNode("node0.blenke.lan", 1, 1, Map.of(
                "power", List.of(
                    new CmanImport.FenceReference("apc", Map.of("port", "1", "switch", "1", "option", "off")),
                    new CmanImport.FenceReference("apc2", Map.of("port", "1", "switch", "1", "option", "off"))),
                "ipmi", List.of(new CmanImport.FenceReference("ipmi-node0", Map.of())))),
            new CmanImport.ClusterNode("node1.blenke.lan", 2, 1, Map.of(
                "power", List.of(new CmanImport.FenceReference("apc", Map.of("port", "2", "switch", "1"))))),
            new CmanImport.ClusterNode("node2.blenke.lan", 3, 1, Map.of(
                "human", List.of(new CmanImport.FenceReference("last-resort", Map.of("nodename", "node2.blenke.lan")))))),
            imported.nodes());
        assertEquals(List.of("power", "ipmi"), List.copyOf(imported.nodes().getFirst().fenceMethods().keySet()),
            "methods keep the order cman tries them in");
        assertEquals(List.of(
            new CmanImport.FenceDevice("apc", "fence_apc", Map.of("ipaddr", "10.0.0.50", "login", "apc", "passwd", "apc")),
            new CmanImport.FenceDevice("apc2", "fence_apc", Map.of("ipaddr", "10.0.0.51", "login", "apc", "passwd", "apc")),
            new CmanImport.FenceDevice("ipmi-node0", "fence_ipmilan",
                Map.of("ipaddr", "10.0.0.60", "login", "admin", "passwd", "calvin")),
            new CmanImport.FenceDevice("last-resort", "fence_manual", Map.of())),
            imported.fenceDevices());

        var expected = new TreeMap<String, String>();
        expected.put("cluster.name", "blenke");
        expected.put("cman.two_node", "1");
        expected.put("cman.expected_votes", "1");
        expected.put("node.node0.blenke.lan.nodeid", "1");
        expected.put("node.node0.blenke.lan.votes", "1");
        expected.put("node.node0.blenke.lan.fence.power.1.device", "apc");
        expected.put("node.node0.blenke.lan.fence.power.1.port", "1");
        expected.put("node.node0.blenke.lan.fence.power.1.switch", "1");
        expected.put("node.node0.blenke.lan.fence.power.1.option", "off");
        expected.put("node.node0.blenke.lan.fence.power.2.device", "apc2");
        expected.put("node.node0.blenke.lan.fence.power.2.port", "1");
        expected.put("node.node0.blenke.lan.fence.power.2.switch", "1");
        expected.put("node.node0.blenke.lan.fence.power.2.option", "off");
        expected.put("node.node0.blenke.lan.fence.ipmi.1.device", "ipmi-node0");
        expected.put("node.node0.blenke.lan.fence.order", "power,ipmi"); // document order: the levels
        expected.put("node.node1.blenke.lan.fence.order", "power");
        expected.put("node.node2.blenke.lan.fence.order", "human");
        expected.put("node.node1.blenke.lan.nodeid", "2");
        expected.put("node.node1.blenke.lan.votes", "1");
        expected.put("node.node1.blenke.lan.fence.power.1.device", "apc");
        expected.put("node.node1.blenke.lan.fence.power.1.port", "2");
        expected.put("node.node1.blenke.lan.fence.power.1.switch", "1");
        expected.put("node.node2.blenke.lan.nodeid", "3");
        expected.put("node.node2.blenke.lan.votes", "1");
        expected.put("node.node2.blenke.lan.fence.human.1.device", "last-resort");
        expected.put("node.node2.blenke.lan.fence.human.1.nodename", "node2.blenke.lan");
        expected.put("fence.device.apc.agent", "fence_apc");
        expected.put("fence.device.apc.ipaddr", "10.0.0.50");
        expected.put("fence.device.apc.login", "apc");
        expected.put("fence.device.apc.passwd", "apc");
        expected.put("fence.device.apc2.agent", "fence_apc");
        expected.put("fence.device.apc2.ipaddr", "10.0.0.51");
        expected.put("fence.device.apc2.login", "apc");
        expected.put("fence.device.apc2.passwd", "apc");
        expected.put("fence.device.ipmi-node0.agent", "fence_ipmilan");
        expected.put("fence.device.ipmi-node0.ipaddr", "10.0.0.60");
        expected.put("fence.device.ipmi-node0.login", "admin");
        expected.put("fence.device.ipmi-node0.passwd", "calvin");
        expected.put("fence.device.last-resort.agent", "fence_manual");
        assertEquals(expected, imported.config());

        assertEquals(List.of(), imported.errors());
        var report = imported.report();
        assertEquals(1, count(report, "not imported: /cluster/fence_daemon "), report.toString());
        assertEquals(1, count(report, "not imported: /cluster/rm "), "one line for the whole <rm> section: " + report);
        assertTrue(report.contains(
            "two-node cluster: Raft needs a third voter; add a witness with `nines cluster join --witness`"), report.toString());
        assertEquals(1, count(report, "note: two_node=\"1\" is set but 3 nodes"), report.toString());
        assertEquals(3, count(report, "secret: the passwd of fence device"), report.toString());
        assertTrue(report.stream().anyMatch(l -> l.contains("'fence.device.ipmi-node0.passwd'")), report.toString());
        assertEquals(7, report.size(), report.toString());
    }

    @Test
    void aMethodNamingAnUndefinedDeviceIsAnErrorButTheRestIsRead() throws Exception {
        CmanImport imported = CmanConfigImport.parse(SEED.replace("<device name=\"ipmi-node0\"/>", "<device name=\"drac\"/>"));

        assertEquals(List.of("node 'node0.blenke.lan' fence method 'ipmi' names device 'drac', which no <fencedevice> defines"),
            imported.errors());
        assertEquals("drac", imported.config().get("node.node0.blenke.lan.fence.ipmi.1.device"));
        assertEquals(3, imported.nodes().size());
    }

    @Test
    void duplicateNodesAndNamelessNodesAreErrors() throws Exception {
        CmanImport imported = CmanConfigImport.parse("""
            <cluster name="c" config_version="1">
              <clusternodes>
                <clusternode name="a" nodeid="1"/>
                <clusternode name="b" nodeid="1"/>
                <clusternode name="a" nodeid="3"/>
                <clusternode nodeid="4"/>
              </clusternodes>
            </cluster>
            """);

        assertEquals(3, imported.errors().size(), imported.errors().toString());
        assertTrue(imported.errors().get(0).contains("nodeid 1 of node 'b'"), imported.errors().toString());
        assertTrue(imported.errors().get(1).contains("node 'a' is defined twice (again at line 5"), imported.errors().toString());
        assertTrue(imported.errors().get(2).contains("<clusternode> at line 6"), imported.errors().toString());
        assertEquals(List.of("a", "b"), imported.nodes().stream().map(CmanImport.ClusterNode::name).toList());
    }

    @Test
    void namesThatCannotBeKeysAreSanitisedAndReported() throws Exception {
        CmanImport imported = CmanConfigImport.parse("""
            <cluster name="c" config_version="1">
              <clusternodes>
                <clusternode name="web 01" nodeid="1">
                  <fence><method name="1"><device name="pdu #1" port="3"/></method></fence>
                </clusternode>
              </clusternodes>
              <fencedevices><fencedevice name="pdu #1" agent="fence_wti" ipaddr="10.0.0.9"/></fencedevices>
            </cluster>
            """);

        assertEquals(List.of(), imported.errors(), "the reference resolves by the original name");
        assertEquals("pdu #1", imported.config().get("node.web_01.fence.1.1.device"));
        assertEquals("fence_wti", imported.config().get("fence.device.pdu__1.agent"));
        assertTrue(imported.report().contains(
            "renamed: node 'web 01' appears as 'web_01' in config keys (a key holds only letters, digits and _ . : / -)"),
            imported.report().toString());
        assertEquals("web 01", imported.nodes().getFirst().name());
    }

    @Test
    void namesThatCollideOnceSanitisedAreAnError() throws Exception {
        CmanImport imported = CmanConfigImport.parse("""
            <cluster name="c" config_version="1">
              <fencedevices>
                <fencedevice name="pdu 1" agent="fence_wti"/>
                <fencedevice name="pdu_1" agent="fence_apc"/>
              </fencedevices>
            </cluster>
            """);

        assertEquals(1, imported.errors().size(), imported.errors().toString());
        assertTrue(imported.errors().getFirst().contains("'fence.device.pdu_1.agent'"), imported.errors().toString());
        assertEquals("fence_wti", imported.config().get("fence.device.pdu_1.agent"), "the first one stays");
    }

    @Test
    void valuesTheStoreWouldRefuseAreReportedNotImported() throws Exception {
        CmanImport imported = CmanConfigImport.parse(
            "<cluster name=\"c\" config_version=\"1\"><cman cluster_id=\"a&#13;b\" two_node=\"0\"/></cluster>");

        assertEquals(Map.of("cluster.name", "c", "cman.two_node", "0"), imported.config());
        assertTrue(imported.report().stream().anyMatch(l -> l.contains("cman option cluster_id") && l.contains("0xd")),
            imported.report().toString());
    }

    @Test
    void everyUnknownSectionIsNamedInTheReport() throws Exception {
        CmanImport imported = CmanConfigImport.parse("""
            <cluster name="c" config_version="3" alias="c-alias">
              <totem token="21000"/>
              <quorumd interval="1" tko="10" votes="1" label="qdisk"><heuristic program="ping -c1 gw" score="1"/></quorumd>
              <logging to_syslog="yes"/>
              <cman><multicast addr="239.192.0.1"/></cman>
            </cluster>
            """);

        var report = imported.report();
        assertEquals(List.of(
            "not imported: attribute alias of /cluster[@name='c'] (line 1, column 54)",
            "not imported: /cluster/totem (line 2, column 25): " + SectionHints.of("totem"),
            "not imported: /cluster/quorumd (line 3, column 58): " + SectionHints.of("quorumd"),
            "not imported: /cluster/logging (line 4, column 29): " + SectionHints.of("logging"),
            "not imported: /cluster/cman/multicast (line 5, column 40): "
                + "cman's own settings (multicast, keys) have no counterpart; the Raft store has its own transport"),
            report);
    }

    @Test
    void malformedInputIsRefusedWithAPlaceToLook() {
        assertRefused("<cluster name=\"x\" config_version=\"1\">\n  <cman>\n</cluster>", "line 3");
        assertRefused("<cluster name=\"x\" config_version=\"1\"/>trailing", "line 1");
        assertRefused("<cluster name=\"x\" config_version='1' name=\"y\"/>", "not well-formed");
        assertRefused("<config name=\"x\"/>", "not <cluster>");
        assertRefused("<cluster config_version=\"1\"/>", "no name attribute");
        assertRefused("<cluster name=\"x\" config_version=\"seven\"/>", "config_version=\"seven\" of /cluster[@name='x'] at line 1");
        assertRefused("<cluster name=\"x\" config_version=\"-2\"/>", "config_version=\"-2\"");
        assertRefused("<cluster name=\"x\" config_version=\"1\">\n<clusternodes>\n<clusternode name=\"a\" nodeid=\"one\"/>"
            + "</clusternodes></cluster>", "nodeid=\"one\" of /cluster/clusternodes/clusternode[@name='a'] at line 3");
        assertRefused("<cluster name=\"x\" config_version=\"1\"><clusternodes><clusternode name=\"a\" nodeid=\"0\"/>"
            + "</clusternodes></cluster>", "from 1 to 2147483647");
        assertRefused("<cluster name=\"x\" config_version=\"1\"><clusternodes><clusternode name=\"a\" votes=\"1.5\"/>"
            + "</clusternodes></cluster>", "votes=\"1.5\"");
        assertRefused("<cluster name=\"x\" config_version=\"1\"><clusternodes><clusternode name=\"a\" votes=\"9999999999\"/>"
            + "</clusternodes></cluster>", "votes=\"9999999999\"");
        assertRefused("", "empty");
        assertRefused(null, "empty");
        assertRefused("just text", "line 1, column 1");
    }

    @Test
    void doctypesAreRefusedSoNoEntityReadsAFile() {
        assertRefused("<!DOCTYPE cluster [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><cluster name=\"&x;\"/>", "DOCTYPE");
        assertRefused("<!DOCTYPE cluster [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><cluster name=\"&b;\"/>", "DOCTYPE");
    }

    private static void assertRefused(String xml, String messagePart) {
        var refusal = assertThrows(CmanConfigException.class, () -> CmanConfigImport.parse(xml));
        assertTrue(refusal.getMessage().contains(messagePart), refusal.getMessage());
    }

    private static long count(List<String> lines, String prefix) {
        return lines.stream().filter(l -> l.startsWith(prefix)).count();
    }
}
