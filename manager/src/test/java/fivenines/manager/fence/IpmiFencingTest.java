package fivenines.manager.fence;

import fivenines.testsupport.fence.IpmiSimulator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fencing through a real BMC protocol: fence_ipmilan (IPMI v2 over UDP, through ipmitool) against
 * OpenIPMI's ipmi_sim on loopback, whose chassis-control script powers the simulated node off by
 * killing its process. A failing first level (fence_dummy type=fail, which never answers) falls
 * through to it.
 */
class IpmiFencingTest {
    @TempDir
    Path dir;
    IpmiSimulator simulator;
    Process node;

    @AfterEach
    void stop() {
        if (simulator != null) {
            simulator.close();
        }
        if (node != null) {
            node.destroyForcibly();
        }
    }

    /** The BMC of the simulated node n2 (a sleeping process): powering off kills it. */
    private int startBmc() throws Exception {
        node = new ProcessBuilder("sleep", "600").start();
        simulator = IpmiSimulator.start(dir, "n2bmc", "kill -9 " + node.pid());
        return simulator.port();
    }

    private static Map<String, String> options(int port, String action) {
        return Map.of("ip", "127.0.0.1", "ipport", Integer.toString(port), "username", "admin", "password", "secret",
            "lanplus", "1", "cipher", "3", "action", action);
    }

    @Test
    void aFailingFirstLevelFallsThroughToIpmiWhichPowersTheNodeOff() throws Exception {
        int port = startBmc();
        var bmc = new FenceDevice("n2-bmc", "fence_ipmilan", Map.of("ip", "127.0.0.1", "ipport", Integer.toString(port),
            "username", "admin", "password", "secret", "lanplus", "1", "cipher", "3"));
        var broken = new FenceDevice("pdu", "fence_dummy", Map.of("type", "fail", "status_file", dir.resolve("pdu").toString()));
        var methods = List.of(new FenceMethod("pdu", List.of(new FenceMethod.Step(broken, Map.of()))),
            new FenceMethod("ipmi", List.of(new FenceMethod.Step(bmc, Map.of()))));
        assertTrue(node.isAlive());

        var outcome = new Fencer(new ProcessFenceAgent(), InstantSource.system(), Duration.ofSeconds(3), 1).fence("n2", methods);

        assertEquals(Fencer.Status.FENCED, outcome.status(), outcome.toString());
        assertEquals("method 'ipmi' switched 'n2' off", outcome.why());
        assertFalse(outcome.attempts().getFirst().ok(), "the first level failed: " + outcome.attempts().getFirst());
        assertTrue(outcome.attempts().getFirst().result().contains("no answer within 3000 ms"), outcome.attempts().getFirst().result());
        assertTrue(node.waitFor(5, TimeUnit.SECONDS), "the BMC powered the node off");
        assertEquals(2, new ProcessFenceAgent().run("fence_ipmilan", options(port, "status"), Duration.ofSeconds(10)).exit(),
            "and reports it off");
    }
}
