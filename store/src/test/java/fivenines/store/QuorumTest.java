package fivenines.store;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The quorum verdict, from the leader's view of each voter. */
class QuorumTest {

    private static StoreStatus leaderOf(List<String> voters, long commit, StoreStatus.PeerProgress... peers) {
        return new StoreStatus("a", "a", 2, commit, commit, "LEADER", voters, List.of(), List.of(peers), -1);
    }

    @Test
    void aVoterThatNeverCaughtUpIsNotUpAndTwoOfTwoWithOneSuchHasNoQuorum() {
        var quorum = leaderOf(List.of("a", "b"), 12, new StoreStatus.PeerProgress("b", -1, 400)).quorum();
        assertEquals(1, quorum.up());
        assertEquals(2, quorum.needed());
        assertFalse(quorum.ok(), quorum.toString());
        assertTrue(quorum.reason().contains("b (behind: match -1 of 12)"), quorum.reason());
    }

    @Test
    void aVoterTheLeaderHasNotHeardLatelyIsNotUp() {
        var quorum = leaderOf(List.of("a", "b", "c"), 50, new StoreStatus.PeerProgress("b", 50, 200),
            new StoreStatus.PeerProgress("c", 48, Quorum.HEARD_WITHIN_MILLIS + 1)).quorum();
        assertEquals(2, quorum.up());
        assertTrue(quorum.ok(), quorum.toString());
        assertTrue(quorum.reason().contains("c (not heard for 3001 ms)"), quorum.reason());
        assertFalse(quorum.detail().get(2).up());
    }

    @Test
    void twoOfThreeDownIsNoQuorumAndTheCountsSayWhy() {
        var quorum = leaderOf(List.of("a", "b", "c"), 50, new StoreStatus.PeerProgress("b", 50, 9_000),
            new StoreStatus.PeerProgress("c", 50 - Quorum.CAUGHT_UP_WITHIN - 1, 100)).quorum();
        assertEquals(1, quorum.up());
        assertFalse(quorum.ok());
        // whatever the verdict, it is the counts' own: ok exactly when up reaches needed
        assertEquals(quorum.up() >= quorum.needed(), quorum.ok());
    }

    @Test
    void aVoterWithoutProgressAtTheLeaderIsNotUp() {
        var quorum = leaderOf(List.of("a", "b", "c"), 7, new StoreStatus.PeerProgress("b", 7, 10)).quorum();
        assertEquals(2, quorum.up());
        assertTrue(quorum.ok());
        assertFalse(quorum.detail().stream().filter(v -> v.name().equals("c")).findFirst().orElseThrow().up());
    }

    @Test
    void aFollowerTrustsOnlyALeaderItHearsAndCountsNoVoters() {
        var hearing = new StoreStatus("b", "a", 2, 9, 9, "FOLLOWER", List.of("a", "b", "c"), List.of(), List.of(), 250).quorum();
        assertEquals("follower", hearing.seenFrom());
        assertTrue(hearing.ok());
        assertEquals(-1, hearing.up());
        var deaf = new StoreStatus("b", "a", 2, 9, 9, "FOLLOWER", List.of("a", "b", "c"), List.of(), List.of(), 4_000).quorum();
        assertFalse(deaf.ok());
        var electing = new StoreStatus("b", null, 3, 9, 9, "CANDIDATE", List.of("a", "b", "c"), List.of(), List.of(), -1).quorum();
        assertFalse(electing.ok());
        assertEquals("candidate", electing.seenFrom());
    }
}
