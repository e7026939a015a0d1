package fivenines.manager.fence;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fencer driving Debian's real fence_dummy agent (fence-agents) over its stdin protocol. */
class FencerTest {
    @TempDir
    Path dir;
    Path state;
    final Fencer fencer = new Fencer(new ProcessFenceAgent(), InstantSource.system(), Duration.ofSeconds(3), 2);

    @BeforeEach
    void node() throws Exception {
        assertTrue(Files.isExecutable(Path.of("/usr/sbin/fence_dummy")), "fence_dummy is missing: scripts/install-deps installs fence-agents");
        state = dir.resolve("node.state");
        Files.writeString(state, "on");
    }

    private FenceMethod dummy(String name, Map<String, String> options) {
        var all = new java.util.HashMap<>(options);
        all.put("status_file", state.toString());
        return new FenceMethod(name, List.of(new FenceMethod.Step(new FenceDevice(name + "-device", "fence_dummy", all), Map.of())));
    }

    @Test
    void aWorkingDeviceSwitchesTheNodeOffAndItsStatusConfirmsIt() throws Exception {
        var outcome = fencer.fence("n2", List.of(dummy("power", Map.of())));
        assertEquals(Fencer.Status.FENCED, outcome.status(), outcome.toString());
        assertEquals(List.of("off", "status"), outcome.attempts().stream().map(Fencer.Attempt::action).toList());
        assertTrue(outcome.attempts().stream().allMatch(Fencer.Attempt::ok));
        assertEquals("off", Files.readString(state).strip(), "the agent itself switched the node off");
    }

    @Test
    void aFailingFirstLevelFallsThroughToTheNextAndEveryRunIsRecorded() {
        var outcome = fencer.fence("n2", List.of(dummy("ipmi", Map.of("type", "fail")), dummy("pdu", Map.of())));
        assertEquals(Fencer.Status.FENCED, outcome.status(), outcome.toString());
        assertEquals("method 'pdu' switched 'n2' off", outcome.why());
        var first = outcome.attempts().getFirst();
        assertEquals("ipmi", first.method());
        assertFalse(first.ok());
        assertEquals(3, outcome.attempts().size(), "ipmi off (failed), pdu off, pdu status");
    }

    @Test
    void whenEveryMethodFailsEachRoundIsTriedAndTheAnswerNamesEveryFailureAndTheWayOut() {
        var outcome = fencer.fence("n2", List.of(dummy("ipmi", Map.of("type", "fail"))));
        assertEquals(Fencer.Status.FAILED, outcome.status());
        assertEquals(2, outcome.attempts().size(), "two rounds of one method");
        assertTrue(outcome.why().contains("device 'ipmi-device' (fence_dummy) off"), outcome.why());
        assertTrue(outcome.why().contains("nines fence ack n2"), outcome.why());
    }

    @Test
    void anAgentThatIsNotInstalledIsAFailureThatSaysWhichAndWhereToGetIt() {
        var missing = new FenceMethod("x", List.of(new FenceMethod.Step(new FenceDevice("bmc", "fence_nosuchagent", Map.of()), Map.of())));
        var outcome = fencer.fence("n2", List.of(missing));
        assertEquals(Fencer.Status.FAILED, outcome.status());
        assertTrue(outcome.why().contains("no fence agent 'fence_nosuchagent'"), outcome.why());
        assertTrue(outcome.why().contains("fence-agents"), outcome.why());
    }

    @Test
    void manualFencingAsInTheSeedWaitsForTheOperatorAfterTheAutomaticLevels() throws Exception {
        var manual = new FenceMethod("last_resort", List.of(new FenceMethod.Step(
            new FenceDevice("manual", "fencemanual", Map.of()), Map.of("nodename", "n2"))));
        var outcome = fencer.fence("n2", List.of(dummy("ipmi", Map.of("type", "fail")), manual));
        assertEquals(Fencer.Status.WAITING_FOR_ACK, outcome.status());
        assertTrue(outcome.why().contains("nines fence ack n2"), outcome.why());
        assertTrue(outcome.why().contains("method 'ipmi'"), "it says what failed before: " + outcome.why());
        assertEquals("on", Files.readString(state).strip(), "nothing switched it off");
    }

    @Test
    void aNodeWithoutMethodsIsNotFencedAndBadDevicesAreRefused() {
        assertEquals(Fencer.Status.FAILED, fencer.fence("n2", List.of()).status());
        assertThrows(IllegalArgumentException.class, () -> new FenceDevice("d", "rm -rf /", Map.of()));
        assertThrows(IllegalArgumentException.class, () -> new FenceMethod("m", List.of()));
    }
}
