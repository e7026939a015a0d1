package fivenines.manager.fence;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.DatagramSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
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
    Process simulator;
    Process node;

    @AfterEach
    void stop() {
        for (Process p : new Process[] {simulator, node}) {
            if (p != null) {
                p.destroyForcibly();
            }
        }
    }

    private int freeUdpPort() throws Exception {
        try (var socket = new DatagramSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private int startBmc() throws Exception {
        for (String tool : List.of("/usr/bin/ipmi_sim", "/usr/bin/ipmitool", "/usr/sbin/fence_ipmilan")) {
            assertTrue(Files.isExecutable(Path.of(tool)), tool + " is missing: scripts/install-deps installs openipmi, ipmitool and fence-agents");
        }
        node = new ProcessBuilder("sleep", "600").start();
        Path power = dir.resolve("power");
        Files.writeString(power, "1\n");
        Path script = dir.resolve("chassis.sh");
        Files.writeString(script, """
            #!/bin/sh
            # ipmi_sim's chassis control: 'get power' answers power:1|0, 'set power 0|1' obeys
            case "$1 $2" in
              "get power") echo "power:$(cat %1$s)";;
              "set power") echo "$3" > %1$s; [ "$3" = 0 ] && kill -9 %2$d;;
            esac
            exit 0
            """.formatted(power, node.pid()));
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        int port = freeUdpPort();
        Path lan = dir.resolve("lan.conf");
        Files.writeString(lan, """
            name "n2bmc"
            set_working_mc 0x20
              startlan 1
                addr 127.0.0.1 %d
                priv_limit admin
                allowed_auths_callback none md2 md5 straight
                allowed_auths_user none md2 md5 straight
                allowed_auths_operator none md2 md5 straight
                allowed_auths_admin none md2 md5 straight
                guid a123456789abcdefa123456789abcdef
              endlan
              chassis_control "%s"
            user 2 true "admin" "secret" admin 10 none md2 md5 straight
            """.formatted(port, script));
        Path emu = dir.resolve("sim.emu");
        Files.writeString(emu, """
            mc_setbmc 0x20
            mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
            mc_enable 0x20
            """);
        simulator = new ProcessBuilder("ipmi_sim", "-c", lan.toString(), "-f", emu.toString(), "-n",
            "-s", dir.resolve("state").toString()).redirectErrorStream(true)
            .redirectOutput(dir.resolve("ipmi_sim.log").toFile()).start();
        // ready when fence_ipmilan can read the power status
        var agent = new ProcessFenceAgent();
        for (int i = 0; i < 50; i++) {
            var run = agent.run("fence_ipmilan", options(port, "status"), Duration.ofSeconds(5));
            if (run.ran() && run.exit() == 0) {
                return port;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("ipmi_sim did not answer; see " + dir.resolve("ipmi_sim.log"));
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
