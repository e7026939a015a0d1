package fivenines.agent.vm;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RestartPolicyTest {
    /** A clock the test moves by hand. */
    static final class ManualClock implements InstantSource {
        Instant now = Instant.parse("2026-12-01T12:00:00Z");

        @Override
        public Instant instant() {
            return now;
        }

        void advance(Duration by) {
            now = now.plus(by);
        }
    }

    private final ManualClock clock = new ManualClock();
    private final RestartPolicy policy = RestartPolicy.standard(clock);

    @Test
    void aStartThatKeepsFailingIsTriedThreeTimesWithAGrowingDelayThenGivenUpWithItsReason() {
        assertTrue(policy.mayTryNow(), "the first try needs no wait");
        var first = assertInstanceOf(RestartPolicy.Decision.RetryAt.class, policy.failed("no kernel"));
        assertEquals(clock.now.plusSeconds(2), first.at());
        assertFalse(policy.mayTryNow());
        clock.advance(Duration.ofMillis(1999));
        assertFalse(policy.mayTryNow(), "not before the delay is over");
        clock.advance(Duration.ofMillis(1));
        assertTrue(policy.mayTryNow());

        var second = assertInstanceOf(RestartPolicy.Decision.RetryAt.class, policy.failed("no kernel"));
        assertEquals(clock.now.plusSeconds(4), second.at(), "the delay doubles");
        assertEquals(2, second.failures());
        clock.advance(Duration.ofSeconds(4));
        assertTrue(policy.mayTryNow());

        var last = assertInstanceOf(RestartPolicy.Decision.GiveUp.class, policy.failed("QEMU: bridge xenbr0 missing"));
        assertEquals(3, last.failures());
        assertEquals("QEMU: bridge xenbr0 missing", last.reason());
        clock.advance(Duration.ofDays(1));
        assertFalse(policy.mayTryNow(), "given up: no more tries, however long one waits");
    }

    @Test
    void failuresLongerAgoThanTheWindowAreForgotten() {
        policy.failed("crashed");
        clock.advance(Duration.ofSeconds(40));
        policy.failed("crashed");
        clock.advance(Duration.ofSeconds(30)); // the first is 70 s old now
        var third = assertInstanceOf(RestartPolicy.Decision.RetryAt.class, policy.failed("crashed"));
        assertEquals(2, third.failures());
    }

    @Test
    void atLeastOneTryIsNeeded() {
        assertThrows(IllegalArgumentException.class, () -> new RestartPolicy(clock, 0, Duration.ofSeconds(1), Duration.ofMinutes(1)));
    }

    @Test
    void aCrashingGuestIsRestartedAtOnceThreeTimesInAMinuteAndLeftStoppedAtTheFourth() {
        var crashes = RestartPolicy.crashes(clock, 3, Duration.ofMinutes(1));
        for (int i = 1; i <= 3; i++) {
            var retry = assertInstanceOf(RestartPolicy.Decision.RetryAt.class, crashes.failed("guest panicked"));
            assertEquals(clock.now, retry.at(), "restarted at once");
            clock.advance(Duration.ofSeconds(10));
        }
        assertInstanceOf(RestartPolicy.Decision.GiveUp.class, crashes.failed("guest panicked"));

        var spaced = RestartPolicy.crashes(clock, 3, Duration.ofMinutes(1));
        for (int i = 0; i < 10; i++) {
            assertInstanceOf(RestartPolicy.Decision.RetryAt.class, spaced.failed("now and then"),
                "crashes a minute apart are each restarted");
            clock.advance(Duration.ofSeconds(61));
        }
    }
}
