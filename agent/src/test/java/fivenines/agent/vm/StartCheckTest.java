package fivenines.agent.vm;

import fivenines.model.vm.VmDefinition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StartCheckTest {
    @TempDir
    Path dir;

    private VmDefinition vm(String kernel, String initrd, String network) {
        return new VmDefinition("demo", 256, 1, new VmDefinition.VmBoot(kernel, initrd, "console=ttyS0"), List.of(),
            List.of(new VmDefinition.VmNic("52:54:00:00:00:01", network)), null, 0, null);
    }

    @Test
    void aMissingKernelOrInitrdAndAMissingBridgeAreEachNamedWithWhatToDo() throws Exception {
        Path net = Files.createDirectories(dir.resolve("net"));
        Files.createDirectories(net.resolve("eth0")); // an interface, not a bridge
        List<String> problems = StartCheck.problems(vm("/nonexistent/vmlinuz", "/nonexistent/initrd", "bridge:xenbr0"), "n0", net);
        assertEquals(3, problems.size(), problems.toString());
        assertTrue(problems.get(0).contains("kernel /nonexistent/vmlinuz does not exist on n0"), problems.get(0));
        assertTrue(problems.get(1).contains("initrd /nonexistent/initrd"), problems.get(1));
        assertTrue(problems.get(2).contains("no bridge 'xenbr0' on n0") && problems.get(2).contains("ip link add xenbr0 type bridge"),
            problems.get(2));
        assertTrue(StartCheck.problems(vm("/nonexistent/vmlinuz", null, "bridge:eth0"), "n0", net).getLast().contains("'eth0'"));
    }

    @Test
    void readableFilesAnExistingBridgeAndUserNetworkingPass() throws Exception {
        Path net = Files.createDirectories(dir.resolve("net"));
        Files.createDirectories(net.resolve("br0").resolve("bridge"));
        Path kernel = Files.writeString(dir.resolve("vmlinuz"), "k");
        Path initrd = Files.writeString(dir.resolve("initrd"), "i");
        assertEquals(List.of(), StartCheck.problems(vm(kernel.toString(), initrd.toString(), "bridge:br0"), "n0", net));
        assertEquals(List.of(), StartCheck.problems(vm(kernel.toString(), null, "user"), "n0", net));
    }
}
