package fivenines.store;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The store's health verdict, on a clock the test moves. */
class StoreHealthTest {
    private Instant now = Instant.parse("2026-01-01T00:00:00Z");
    private final InstantSource clock = () -> now;

    private static StoreStatus follower(String leader) {
        return new StoreStatus("b", leader, 3, 10, 10, leader == null ? "CANDIDATE" : "FOLLOWER",
            List.of("a", "b", "c"), List.of(), List.of(), leader == null ? -1 : 100);
    }

    @Test
    void noLeaderIsDegradedOnlyOnceItLastsPastTheGrace() {
        var health = new StoreHealth(clock);
        assertTrue(health.assess(follower(null)).ok());
        now = now.plus(StoreHealth.NO_LEADER_GRACE);
        var verdict = health.assess(follower(null));
        assertFalse(verdict.ok());
        assertTrue(verdict.summary().startsWith("no leader for 5 s"), verdict.summary());
        assertTrue(health.assess(follower("a")).ok());
        // a new election starts the grace again
        assertTrue(health.assess(follower(null)).ok());
    }

    @Test
    void aFailedRequestDegradesUntilOneSucceeds() {
        var health = new StoreHealth(clock);
        health.succeeded();
        now = now.plusSeconds(1);
        health.failed("store command ChangeConfig failed: Connection refused");
        now = now.plusSeconds(4);
        var verdict = health.assess(follower("a"));
        assertFalse(verdict.ok());
        assertTrue(verdict.summary().contains("failed 4 s ago") && verdict.summary().contains("Connection refused"),
            verdict.summary());
        health.succeeded();
        assertTrue(health.assess(follower("a")).ok());
    }

    @Test
    void aLeaderWithoutAMajorityIsDegraded() {
        var health = new StoreHealth(clock);
        var status = new StoreStatus("a", "a", 2, 12, 12, "LEADER", List.of("a", "b"), List.of(),
            List.of(new StoreStatus.PeerProgress("b", -1, 300)), -1);
        var verdict = health.assess(status);
        assertFalse(verdict.ok());
        assertTrue(verdict.summary().contains("1 of 2 voters up, 2 needed"), verdict.summary());
        now = now.plus(Duration.ofMinutes(1));
        assertFalse(health.assess(status).ok());
    }
}
