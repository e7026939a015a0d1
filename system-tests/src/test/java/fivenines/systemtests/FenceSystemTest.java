package fivenines.systemtests;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.Map;

import static fivenines.systemtests.Cli.assertOutcome;
import static fivenines.systemtests.Cli.nines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fence devices and methods through the real CLI, kept in the store, and {@code fence test}
 * running the real fence_dummy agent; mistakes are refused and change nothing.
 */
class FenceSystemTest extends ClusterSystemTest {

    @Test
    void devicesAndMethodsAreKeptInOrderTestedThroughTheRealAgentAndMistakesChangeNothing() throws Exception {
        cluster = new TestCluster(dir);
        var a = cluster.add("a");
        Agents.client(a).post("/v1/cluster/init", Map.of("name", "test"));
        var power = dir.resolve("b.power");
        Files.writeString(power, "on");

        assertOutcome(0, "added", nines(a, "fence", "device", "add", "pdu", "fence_dummy",
            "status_file=" + power, "passwd=hunter2"));
        assertOutcome(0, "added", nines(a, "fence", "device", "add", "broken", "fence_nosuchagent"));
        assertOutcome(0, "added", nines(a, "fence", "device", "add", "human", "fence_manual"));
        assertOutcome(0, "added", nines(a, "fence", "method", "add", "b", "power", "--device", "pdu", "port=3"));
        assertOutcome(0, "added", nines(a, "fence", "method", "add", "b", "last_resort", "--device", "human"));

        var list = nines(a, "fence", "list");
        assertOutcome(0, "fence_dummy", list);
        assertFalse(list.out().contains("hunter2"), "passwords are hidden: " + list.out());
        assertTrue(list.out().indexOf("power") < list.out().indexOf("last_resort (manual)"), list.out());

        var test = nines(a, "fence", "test", "b");
        assertOutcome(0, "(on)", test);
        assertEquals("on", Files.readString(power).strip(), "a test switches nothing");

        // mistakes: each refused with the reason, and the config is as it was
        long version = Agents.client(a).get("/v1/config").path("configVersion").asLong();
        assertOutcome(1, "is used by node 'b'", nines(a, "fence", "device", "remove", "pdu"));
        assertOutcome(1, "no fence device 'nosuch'", nines(a, "fence", "method", "add", "b", "x", "--device", "nosuch"));
        assertOutcome(1, "exists", nines(a, "fence", "device", "add", "pdu", "fence_dummy"));
        assertOutcome(1, "is not a fence agent", nines(a, "fence", "device", "add", "evil", "rm -rf /"));
        assertOutcome(2, "KEY=VALUE", nines(a, "fence", "device", "add", "x", "fence_dummy", "novalue"));
        assertOutcome(1, "has no fence method", nines(a, "fence", "test", "c"));
        assertEquals(version, Agents.client(a).get("/v1/config").path("configVersion").asLong(), "nothing changed");

        // a device that cannot run makes the test fail, naming it
        assertOutcome(0, "added", nines(a, "fence", "method", "add", "c", "ipmi", "--device", "broken"));
        assertOutcome(1, "no fence agent 'fence_nosuchagent'", nines(a, "fence", "test", "c"));

        assertOutcome(0, "removed", nines(a, "fence", "method", "remove", "b", "power"));
        assertOutcome(0, "removed", nines(a, "fence", "device", "remove", "pdu"));
        assertFalse(nines(a, "fence", "list").out().contains("pdu"));
        cluster.assertNoUnexpectedErrors();
    }
}
