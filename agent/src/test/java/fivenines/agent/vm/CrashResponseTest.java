package fivenines.agent.vm;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CrashResponseTest {
    private final RestartPolicyTest.ManualClock clock = new RestartPolicyTest.ManualClock();

    @Test
    void aCrashingGuestIsRestartedThreeTimesWithinAMinuteThenLeftStoppedWithWhy() {
        RestartPolicy crashes = RestartPolicy.crashes(clock, 3, Duration.ofMinutes(1));
        for (int i = 0; i < 3; i++) {
            assertInstanceOf(CrashResponse.Restart.class, CrashResponse.decide("restart", crashes, 3, "QEMU exited"));
            clock.advance(Duration.ofSeconds(5));
        }
        var given = assertInstanceOf(CrashResponse.GiveUp.class, CrashResponse.decide("restart", crashes, 3, "QEMU exited"));
        assertTrue(given.why().startsWith("QEMU exited; restarted 3 times"), given.why());
    }

    @Test
    void crashesFurtherApartThanTheWindowAreEachRestarted() {
        RestartPolicy crashes = RestartPolicy.crashes(clock, 3, Duration.ofMinutes(1));
        for (int i = 0; i < 10; i++) {
            assertInstanceOf(CrashResponse.Restart.class, CrashResponse.decide("restart", crashes, 3, "the guest crashed"));
            clock.advance(Duration.ofSeconds(61));
        }
    }

    @Test
    void preserveAndDestroyNeverRestartAndRecordNoCrash() {
        RestartPolicy crashes = RestartPolicy.crashes(clock, 3, Duration.ofMinutes(1));
        assertInstanceOf(CrashResponse.Preserve.class, CrashResponse.decide("preserve", crashes, 3, "x"));
        assertInstanceOf(CrashResponse.Destroy.class, CrashResponse.decide("destroy", crashes, 3, "x"));
        assertEquals(0, crashes.failures());
    }
}
