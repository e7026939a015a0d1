package fivenines.block.aoe;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The polling decision, fed counters as /proc/stat and the readers would give them. */
class PollGovernorTest {
    static final long TICK = 10_000_000L;

    @Test
    void aMachineWithIdleCpuAllowsPollingABusyOneDoesNot() {
        var g = new PollGovernor();
        assertFalse(g.decide(0, 0, 0, TICK), "nothing known yet: the readers sleep");
        // 20 ticks (100 ms of two CPUs), 10 idle: half the machine spare
        assertTrue(g.decide(10, 20, 0, TICK));
        // the next 20 ticks, 2 idle: a tenth spare, polling stops
        assertFalse(g.decide(12, 40, 0, TICK));
        // 4 idle of 20 and 2 ticks' worth of our own polling: 6 of 20 spare, above a quarter
        assertTrue(g.decide(16, 60, 2 * TICK, TICK));
    }

    @Test
    void theReadersOwnPollingCountsAsIdleSoPollingDoesNotTurnItselfOff() {
        var g = new PollGovernor();
        g.decide(0, 0, 0, TICK);
        assertTrue(g.decide(10, 20, 0, TICK));
        // polling took 8 ticks of what was idle: 2 idle are left, but 10 of 20 are spare
        assertTrue(g.decide(12, 40, 8 * TICK, TICK));
        // without counting the polling the same interval would have stopped it
        var h = new PollGovernor();
        h.decide(0, 0, 0, TICK);
        h.decide(10, 20, 0, TICK);
        assertFalse(h.decide(12, 40, 0, TICK));
    }

    @Test
    void anIntervalTooShortToTellKeepsTheDecisionAndIsMeasuredOverALongerOne() {
        var g = new PollGovernor();
        g.decide(0, 0, 0, TICK);
        assertTrue(g.decide(10, 20, 0, TICK));
        assertTrue(g.decide(10, 25, 0, TICK), "5 ticks, none idle: too few to decide");
        // measured from the last decision: 1 idle of 20
        assertFalse(g.decide(11, 40, 0, TICK));
    }

    @Test
    void procStatsCpuLineGivesIdleWithIowaitAndTheTotal() {
        long[] cpu = PollGovernor.parseCpuLine("cpu  100 5 50 800 20 3 2 1 0 0\ncpu0 50 2 25 400 10 1 1 0 0 0\n");
        assertEquals(820, cpu[0]);
        assertEquals(981, cpu[1]);
        var error = assertThrows(IllegalArgumentException.class, () -> PollGovernor.parseCpuLine("intr 1 2 3 4 5 6"));
        assertTrue(error.getMessage().contains("not /proc/stat's cpu line"), error.getMessage());
    }
}
