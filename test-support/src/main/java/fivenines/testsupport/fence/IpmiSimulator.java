package fivenines.testsupport.fence;

import java.io.IOException;
import java.net.DatagramSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

/**
 * A BMC for fencing tests: OpenIPMI's {@code ipmi_sim} on a loopback UDP port, user {@code admin}
 * with password {@code secret}. Its chassis control answers {@code get power} from a file and,
 * on {@code set power 0}, runs the given shell commands (which power the simulated node off, by
 * killing its processes). Ready once {@code fence_ipmilan} reads the power status through it
 * ({@code lanplus=1 cipher=3}: other ciphers make each call wait ~14 s).
 */
public final class IpmiSimulator implements AutoCloseable {
    public static final String USER = "admin";
    public static final String PASSWORD = "secret";
    private final Process process;
    private final int port;

    private IpmiSimulator(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    /** Starts the simulator with its files in {@code dir}; {@code powerOff} is shell run when it is told to switch off. */
    public static IpmiSimulator start(Path dir, String name, String powerOff) throws IOException, InterruptedException {
        for (String tool : List.of("/usr/bin/ipmi_sim", "/usr/bin/ipmitool", "/usr/sbin/fence_ipmilan")) {
            if (!Files.isExecutable(Path.of(tool))) {
                throw new AssertionError(tool + " is missing: scripts/install-deps installs openipmi, ipmitool and fence-agents");
            }
        }
        Path power = dir.resolve("power");
        Files.writeString(power, "1\n");
        Path script = dir.resolve("chassis.sh");
        Files.writeString(script, """
            #!/bin/sh
            # ipmi_sim's chassis control: 'get power' answers power:1|0, 'set power 0|1' obeys
            case "$1 $2" in
              "get power") echo "power:$(cat %1$s)";;
              "set power") echo "$3" > %1$s
                 if [ "$3" = 0 ]; then %2$s; fi;;
            esac
            exit 0
            """.formatted(power, powerOff));
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        int port;
        try (var socket = new DatagramSocket(0)) {
            port = socket.getLocalPort();
        }
        Path lan = dir.resolve("lan.conf");
        Files.writeString(lan, """
            name "%s"
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
            user 2 true "%s" "%s" admin 10 none md2 md5 straight
            """.formatted(name, port, script, USER, PASSWORD));
        Path emu = dir.resolve("sim.emu");
        Files.writeString(emu, """
            mc_setbmc 0x20
            mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
            mc_enable 0x20
            """);
        Process process = new ProcessBuilder("ipmi_sim", "-c", lan.toString(), "-f", emu.toString(), "-n",
            "-s", dir.resolve("state").toString()).redirectErrorStream(true)
            .redirectOutput(dir.resolve("ipmi_sim.log").toFile()).start();
        var simulator = new IpmiSimulator(process, port);
        for (int i = 0; i < 50; i++) {
            if (simulator.powerStatus() == 0) {
                return simulator;
            }
            Thread.sleep(200);
        }
        simulator.close();
        throw new AssertionError("ipmi_sim did not answer; see " + dir.resolve("ipmi_sim.log"));
    }

    public int port() {
        return port;
    }

    /** fence_ipmilan's exit for {@code status}: 0 powered on, 2 off, else it could not ask. */
    public int powerStatus() throws IOException, InterruptedException {
        var status = new ProcessBuilder("/usr/sbin/fence_ipmilan", "--ip=127.0.0.1", "--ipport=" + port, "--username=" + USER,
            "--password=" + PASSWORD, "--lanplus", "--cipher=3", "--action=status").redirectErrorStream(true).start();
        status.getInputStream().readAllBytes();
        return status.waitFor();
    }

    @Override
    public void close() {
        process.destroyForcibly();
    }
}
