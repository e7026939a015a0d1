package fivenines.agent.vm;

import fivenines.model.command.RecoverVm;
import fivenines.model.command.ReportVmStatus;
import fivenines.model.command.SetVmHa;
import fivenines.model.ha.HaState;
import fivenines.model.vm.GuestState;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which applied commands wake the VM reconciler at once instead of at its next poll. */
class ReconcileTriggerTest {

    @Test
    void aVmPlacedOnASurvivorWakesTheReconcilerButAWaitingStateDoesNot() {
        assertTrue(VmService.isVmCommand(new RecoverVm("web", "n1", "n2", HaState.RECOVERING, null)),
            "the survivor starts the recovered VM as soon as its placement is applied");
        assertFalse(VmService.isVmCommand(new RecoverVm("web", "n1", null, HaState.WAITING_FOR_FENCING, "fencing node n1")),
            "a recorded HA state changes nothing a node runs");
    }

    @Test
    void haSettingsWakeTheReconcilerAndStatusReportsDoNot() {
        assertTrue(VmService.isVmCommand(new SetVmHa("web", true, null, null)), "HA on or off changes the lease gate");
        assertFalse(VmService.isVmCommand(new ReportVmStatus("web", "n1", GuestState.RUNNING, null)),
            "a node's own report would wake it in a loop");
    }
}
