package fivenines.manager.lease;

import fivenines.model.config.LeaseSettings;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LeaseTest {
    /** A clock the test moves by hand. */
    static final class ManualClock implements InstantSource {
        Instant now = Instant.parse("2026-12-01T12:00:00Z");

        @Override
        public Instant instant() {
            return now;
        }

        void advance(long millis) {
            now = now.plusMillis(millis);
        }
    }

    private final ManualClock node = new ManualClock();
    // the mechanics with a 5 s lease renewed every second (not the defaults, tested below)
    private final LeaseSettings settings = new LeaseSettings(Duration.ofMillis(5000), Duration.ofMillis(1000),
        Duration.ofMillis(1000), 0.1);

    @Test
    void aNodeServesUntilItsLeaseLessTheStopMarginCountedFromWhenItSentTheRenewal() {
        var lease = new NodeLease(node, settings);
        assertFalse(lease.canServe(), "no lease before the first renewal");
        Instant sent = node.instant();
        node.advance(300); // the answer takes 300 ms
        lease.renewed(sent);
        assertTrue(lease.canServe());
        assertEquals(sent.plusMillis(4000), lease.stopBy(), "5 s lease less 1 s to stop the guests, from the sending");
        node.advance(3699);
        assertTrue(lease.canServe());
        node.advance(1);
        assertFalse(lease.canServe(), "at 4 s after sending the node stops serving");
        assertTrue(lease.why().contains("not renewed for 4000 ms"), lease.why());
    }

    @Test
    void aLateAnswerToAnOlderRenewalNeverShortensOrStretchesTheLease() {
        var lease = new NodeLease(node, settings);
        Instant first = node.instant();
        node.advance(1000);
        Instant second = node.instant();
        lease.renewed(second);
        lease.renewed(first);
        assertEquals(second.plusMillis(4000), lease.stopBy());
    }

    @Test
    void aRefusedRenewalEndsTheLeaseAtOnce() {
        var lease = new NodeLease(node, settings);
        lease.renewed(node.instant());
        lease.revoked("declared down");
        assertFalse(lease.canServe());
        assertNull(lease.stopBy());
        assertEquals("declared down", lease.why());
    }

    @Test
    void theManagerReckonsTheLeaseEndedOnlyAfterItsLengthWithTheClockMarginFromItsOwnApply() {
        var manager = new ManualClock();
        var watch = new LeaseWatch(manager.instant());
        var lease = new NodeLease(node, settings);
        // the node sends at its t0, the manager's replica applies it 200 ms later by its own clock
        lease.renewed(node.instant());
        manager.advance(200);
        watch.renewalApplied("node1", manager.instant());
        // the node stops its guests 4 s after sending; the manager waits 5.5 s after applying
        assertEquals(Duration.ofMillis(5500), watch.remaining("node1", settings, manager.instant()));
        manager.advance(5499);
        assertFalse(watch.ended("node1", settings, manager.instant()));
        manager.advance(1);
        assertTrue(watch.ended("node1", settings, manager.instant()));
        // even if the node's clock ran 10 % slow, it stopped serving at 4 s x 1.1 = 4.4 s real, well before
        Duration nodeStopsAtRealMost = Duration.ofNanos((long) (settings.serveFor().toNanos() * 1.1));
        assertTrue(nodeStopsAtRealMost.plusMillis(200).compareTo(settings.certainlyEndedAfter()) < 0);
    }

    @Test
    void aRenewalTheNewLeaderAppliesFromTheOldLeadersTermIsKnownFromWhenTheOldLeaderWasLastHeard() {
        var replica = new ManualClock();
        var watch = new LeaseWatch(replica.instant());
        // following node0 in term 4: its messages brought the log up to index 100; node0 renewed at index 99
        replica.advance(1000);
        Instant lastHeardLeader = replica.instant();
        watch.following(4, 100, lastHeardLeader);
        // node0 dies; 2.5 s later this replica, elected in term 5, applies the old term's entries
        replica.advance(2500);
        watch.renewalApplied("node0", replica.instant(), 99, 4);
        assertEquals(lastHeardLeader, watch.renewalKnown("node0").orElseThrow(), "known when node0 was last heard, not at the apply");
        assertEquals(lastHeardLeader.plus(settings.certainlyEndedAfter()), watch.certainEnd("node0", settings),
            "the lease ends from there too: node0 sent it before this replica had it");
        // an entry of an older term at such an index is known from there as well
        watch.renewalApplied("node2", replica.instant(), 98, 3);
        assertEquals(lastHeardLeader, watch.renewalKnown("node2").orElseThrow());
        // an entry of this leader's own term (past the followed log's end) is known when applied
        replica.advance(300);
        watch.renewalApplied("node1", replica.instant(), 101, 5);
        assertEquals(replica.instant(), watch.renewalKnown("node1").orElseThrow());
        // and so is one of a later term at an index the report covered: a later leader may have overwritten the
        // uncommitted end of this replica's log with an entry written after the report
        watch.renewalApplied("node3", replica.instant(), 97, 5);
        assertEquals(replica.instant(), watch.renewalKnown("node3").orElseThrow(), "a later term is never dated back");
        assertEquals(replica.instant().plus(settings.certainlyEndedAfter()), watch.certainEnd("node3", settings));
        // a renewal applied with its place unknown is known when applied; a later known time never goes back
        replica.advance(100);
        watch.renewalApplied("node0", replica.instant());
        assertEquals(replica.instant(), watch.renewalKnown("node0").orElseThrow());
        watch.renewalApplied("node0", replica.instant(), 50, 1);
        assertEquals(replica.instant(), watch.renewalKnown("node0").orElseThrow());
    }

    @Test
    void aNodeNeverHeardSinceTheWatchBeganIsReckonedFromItsBeginning() {
        var manager = new ManualClock();
        var watch = new LeaseWatch(manager.instant());
        assertTrue(watch.renewalKnown("node2").isEmpty(), "no renewal of node2 applied here yet");
        manager.advance(5499);
        assertFalse(watch.ended("node2", settings, manager.instant()), "it may have renewed just before this replica started");
        manager.advance(1);
        assertTrue(watch.ended("node2", settings, manager.instant()));
    }

    @Test
    void settingsThatWouldStopGuestsBetweenTwoRenewalsAreRefusedNamingTheKey() {
        var wrong = assertThrows(IllegalArgumentException.class, () -> LeaseSettings.from(key -> Optional.ofNullable(Map.of(
            "ha.lease_millis", "1500", "ha.stop_ahead_millis", "600", "ha.renew_millis", "1000").get(key))));
        assertTrue(wrong.getMessage().contains("ha.renew_millis"), wrong.getMessage());
        var notANumber = assertThrows(IllegalArgumentException.class,
            () -> LeaseSettings.from(key -> key.equals("ha.lease_millis") ? Optional.of("soon") : Optional.empty()));
        assertTrue(notANumber.getMessage().contains("nines config set ha.lease_millis"), notANumber.getMessage());
        assertEquals(Duration.ofMillis(3000), LeaseSettings.from(key -> Optional.ofNullable(Map.of("ha.lease_millis", "3000").get(key))).length());
    }

    @Test
    void byDefaultTheLeaseCertainlyEndsWhenTheNodeIsDeclaredDownAndNeverServesLessThanAOneAndAHalfSecondBlip() {
        LeaseSettings ten = LeaseSettings.from(key -> Optional.ofNullable(Map.of("cluster.dead_after_seconds", "10").get(key)));
        assertEquals(Duration.ofMillis(9090), ten.length(), "10 s to declare down: the lease ends with it (10 s / 1.1)");
        assertEquals(Duration.ofMillis(9999), ten.certainlyEndedAfter().truncatedTo(java.time.temporal.ChronoUnit.MILLIS));
        LeaseSettings three = LeaseSettings.from(key -> Optional.empty());
        assertEquals(Duration.ofMillis(3500), three.length(), "by default (3 s) the floor: never shorter than 3.5 s");
        assertTrue(three.serveFor().minus(three.renewEvery()).compareTo(Duration.ofMillis(1500)) > 0,
            "a renewal sent just before a 1.5 s blip keeps the node serving through it: " + three);
        LeaseSettings set = LeaseSettings.from(key -> Optional.ofNullable(Map.of("cluster.dead_after_seconds", "3",
            "ha.lease_millis", "6000").get(key)));
        assertEquals(Duration.ofMillis(6000), set.length(), "a lease set is kept as it is");
    }
}
