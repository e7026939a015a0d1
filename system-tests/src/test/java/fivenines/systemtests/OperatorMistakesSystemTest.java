package fivenines.systemtests;

import fivenines.block.pv.PhysicalVolumeLabel;
import fivenines.testsupport.cluster.AgentProcess;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import static fivenines.systemtests.Cli.assertOutcome;
import static fivenines.systemtests.Cli.nines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What an operator gets wrong, typed through the real CLI against real agents: sizes as LVM
 * reads them, leaving with a disk still in a group, labels left behind by a departed node.
 */
class OperatorMistakesSystemTest extends ClusterSystemTest {

    @Test
    void sizesAreReadAsLvmReadsThemAndADepartingNodesDisksAreAccountedFor() throws Exception {
        cluster = new TestCluster(dir);
        var a = cluster.add("a");
        Agents.client(a).post("/v1/cluster/init", Map.of("name", "test", "maxVoters", 5));
        var b = cluster.add("b");
        cluster.join(b, false);
        cluster.awaitOnEvery(s -> s.path("nodes").size() == 2, Duration.ofSeconds(30), "two nodes");

        Path pvA = dir.resolve("a.img");
        Path pvB = dir.resolve("b.img");
        Path spareB = dir.resolve("b-spare.img");
        assertOutcome(0, "created", nines(a, "pv", "create", pvA.toString(), "--size", "256"));   // MiB, as LVM
        assertEquals(256L << 20, Files.size(pvA));
        assertOutcome(0, "created", nines(b, "pv", "create", pvB.toString(), "--size", "0.25g"));
        assertOutcome(0, "created", nines(b, "pv", "create", spareB.toString(), "--size", "64m"));
        assertOutcome(2, "relative", nines(b, "pv", "create", "b-relative.img", "--size", "64m"));
        assertOutcome(0, "volume group vg: ", nines(a, "vg", "create", "vg", "a:" + pvA, "b:" + pvB));

        // -L without a unit is MiB; '+' adds; '-' and odd units are usage errors that change nothing
        assertOutcome(0, "100.00 MiB", nines(a, "lv", "create", "-n", "web", "-L", "100", "--thin", "vg"));
        assertOutcome(0, "extended: 1.10 GiB", nines(a, "lv", "extend", "-L", "+1G", "vg/web"));
        assertOutcome(2, "shrinking", nines(a, "lv", "extend", "-L", "-1G", "vg/web"));
        assertOutcome(2, "is not valid", nines(a, "lv", "create", "-n", "x", "-L", "10D", "vg"));
        assertOutcome(1, "give a larger size, or '+SIZE'", nines(a, "lv", "extend", "-L", "1G", "vg/web"));
        assertEquals(1, Agents.client(a).get("/v1/lvs").size(), "refused commands created nothing");

        // b's disk is in the group: b cannot leave, and nothing changes
        assertOutcome(1, "'nines vg reduce vg b:" + pvB + "'", nines(b, "cluster", "leave"));
        assertEquals(2, Agents.status(a).path("nodes").size());
        assertOutcome(0, "b:" + pvB, nines(a, "pv", "list"));

        Path stale = dir.resolve("stale.img");
        Files.copy(spareB, stale); // a label that b takes with it when it leaves
        // with the disk out of the group, b leaves and takes its unused disks (and their labels) with it
        assertOutcome(0, "", nines(a, "vg", "reduce", "vg", "b:" + pvB));
        assertOutcome(0, "left", nines(b, "cluster", "leave"));
        cluster.await(a, s -> s.path("nodes").size() == 1, Duration.ofSeconds(30), "b gone");
        var pvs = Agents.client(a).get("/v1/pvs");
        assertEquals(1, pvs.size(), pvs.toString());
        awaitNoLabel(pvB);
        awaitNoLabel(spareB);

        // a label this cluster does not know: the advice names --force, which relabels it
        assertOutcome(1, "is already physical volume a:" + pvA, nines(a, "pv", "create", pvA.toString()));
        Path copy = dir.resolve("copy.img");
        Files.copy(pvA, copy);
        assertOutcome(1, "the same disk under another path, or a copy of it", nines(a, "pv", "create", "--force", copy.toString()));
        var unknown = nines(a, "pv", "create", stale.toString());
        assertOutcome(1, "which this cluster does not know", unknown);
        assertTrue(unknown.err().contains("'nines pv create --force " + stale + "'"), unknown.toString());
        assertOutcome(0, "created", nines(a, "pv", "create", "--force", stale.toString()));
        assertTrue(PhysicalVolumeLabel.read(stale).isPresent());
        cluster.assertNoUnexpectedErrors();
    }

    private static void awaitNoLabel(Path file) throws Exception {
        Instant deadline = Instant.now().plusSeconds(10);
        while (PhysicalVolumeLabel.read(file).isPresent()) {
            assertTrue(Instant.now().isBefore(deadline), file + " still carries a label");
            AgentProcess.sleep(100);
        }
    }
}
