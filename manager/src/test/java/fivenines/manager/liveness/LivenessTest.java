package fivenines.manager.liveness;

import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeRole;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.SetNodeState;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Liveness decisions with a given clock: no sleeping. */
class LivenessTest {
    static final Duration DEAD_AFTER = Duration.ofSeconds(10);
    static final Instant NOW = Instant.parse("2026-12-01T12:00:00Z");
    static final Instant LONG_AGO = NOW.minusSeconds(3600);

    static Node node(String name, NodeState state) {
        return new Node(name, name + ":1", name + ":2", NodeRole.VOTER, false, state, 1);
    }

    @Test
    void aNodeSilentPastTheLimitIsDeclaredDownAndUpAgainWhenHeard() {
        var nodes = List.of(node("a", NodeState.UP), node("b", NodeState.UP), node("c", NodeState.UP));
        var decision = Liveness.decide(nodes, "a", Map.of("b", 10_001L, "c", 200L), DEAD_AFTER, NOW, LONG_AGO);
        assertEquals(List.of(new SetNodeState("b", NodeState.DOWN)), decision.commands());

        var at = Liveness.decide(nodes, "a", Map.of("b", 10_000L, "c", 200L), DEAD_AFTER, NOW, LONG_AGO);
        assertEquals(List.of(), at.commands(), "exactly the limit is not past it");

        var back = Liveness.decide(List.of(node("a", NodeState.UP), node("b", NodeState.DOWN), node("c", NodeState.UP)),
            "a", Map.of("b", 50L, "c", 50L), DEAD_AFTER, NOW, LONG_AGO);
        assertEquals(List.of(new SetNodeState("b", NodeState.UP)), back.commands());
    }

    @Test
    void aNewLeaderDeclaresNobodyDownBeforeItHasLedForTheWholeLimit() {
        var nodes = List.of(node("a", NodeState.UP), node("b", NodeState.UP), node("c", NodeState.UP));
        var fresh = Liveness.decide(nodes, "a", Map.of("b", 30_000L, "c", 100L), DEAD_AFTER, NOW, NOW.minusSeconds(3));
        assertEquals(List.of(), fresh.commands());
        assertTrue(fresh.notes().getFirst().contains("leader for 3000 ms only"), fresh.notes().toString());

        var later = Liveness.decide(nodes, "a", Map.of("b", 30_000L, "c", 100L), DEAD_AFTER, NOW, NOW.minusSeconds(10));
        assertEquals(List.of(new SetNodeState("b", NodeState.DOWN)), later.commands());
    }

    @Test
    void aNewLeaderDeclaresANodeThatHasNotRenewedWithItAtAllDownAfterTheGraceButWaitsTheWholeLimitForOneItHeard() {
        var nodes = List.of(node("a", NodeState.UP), node("b", NodeState.UP), node("c", NodeState.UP));
        Duration grace = Duration.ofMillis(1500);
        // b was the old leader and died with it: silent 12 s by its renewals, never heard by this leader
        var early = Liveness.decide(nodes, "a", Map.of("b", 12_000L, "c", 100L), DEAD_AFTER, NOW, NOW.minusMillis(1000),
            grace, java.util.Set.of("c"));
        assertEquals(List.of(), early.commands(), "within the grace even an unheard node waits");

        var afterGrace = Liveness.decide(nodes, "a", Map.of("b", 12_000L, "c", 100L), DEAD_AFTER, NOW, NOW.minusMillis(1600),
            grace, java.util.Set.of("c"));
        assertEquals(List.of(new SetNodeState("b", NodeState.DOWN)), afterGrace.commands());
        assertTrue(afterGrace.notes().getFirst().contains("not heard since this leader's election"), afterGrace.notes().toString());

        // c renewed with this leader once, then fell silent: it waits for the whole limit of leading
        var heard = Liveness.decide(nodes, "a", Map.of("b", 100L, "c", 12_000L), DEAD_AFTER, NOW, NOW.minusMillis(1600),
            grace, java.util.Set.of("b", "c"));
        assertEquals(List.of(), heard.commands());
        assertTrue(heard.notes().getFirst().contains("for a node heard since"), heard.notes().toString());

        // silent not long enough: nothing, unheard or not
        var short_ = Liveness.decide(nodes, "a", Map.of("b", 9_000L, "c", 100L), DEAD_AFTER, NOW, NOW.minusMillis(1600),
            grace, java.util.Set.of("c"));
        assertEquals(List.of(), short_.commands());

        // and the storm guard still holds: two of three unheard is more than half
        var storm = Liveness.decide(nodes, "a", Map.of("b", 12_000L, "c", 12_000L), DEAD_AFTER, NOW, NOW.minusMillis(1600),
            grace, java.util.Set.of());
        assertEquals(List.of(), storm.commands());
        assertTrue(storm.notes().getFirst().contains("fencing-storm guard"), storm.notes().toString());
    }

    @Test
    void aLeaderWhoseJudgingStalledJudgesAsANewLeaderSoTheRenewalsQueuedBehindTheStallAreWaitedFor() {
        Duration stall = Duration.ofSeconds(1);
        Duration grace = Duration.ofMillis(1500);
        Instant since = NOW.minusSeconds(600);
        assertEquals(NOW, Liveness.judgingSince(null, null, NOW, stall), "a leader that has just begun counts from now");
        assertEquals(since, Liveness.judgingSince(since, NOW.minusMillis(250), NOW, stall), "one tick later: unchanged");
        assertEquals(since, Liveness.judgingSince(since, NOW.minusMillis(1000), NOW, stall), "exactly the stall is not past it");
        Instant resumed = Liveness.judgingSince(since, NOW.minusMillis(4000), NOW, stall);
        assertEquals(NOW, resumed, "4 s without judging is a stall");

        // the leader was stopped 4 s: both followers' last applied renewals are now 4.2 s old (past a 3 s limit),
        // and one of them is in fact dead; without the stall rule, both would be declared down at once
        var nodes = List.of(node("a", NodeState.UP), node("b", NodeState.UP), node("c", NodeState.UP));
        Duration limit = Duration.ofSeconds(3);
        var naive = Liveness.decide(nodes, "a", Map.of("b", 4_200L, "c", 4_200L), limit, NOW, since, grace, java.util.Set.of());
        assertTrue(naive.notes().getFirst().contains("fencing-storm guard"), naive.notes().toString());
        var two = List.of(node("a", NodeState.UP), node("b", NodeState.UP), node("c", NodeState.UP), node("d", NodeState.UP),
            node("e", NodeState.UP));
        var naiveOne = Liveness.decide(two, "a", Map.of("b", 4_200L, "c", 100L, "d", 100L, "e", 100L), limit, NOW, since,
            grace, java.util.Set.of());
        assertEquals(List.of(new SetNodeState("b", NodeState.DOWN)), naiveOne.commands(), "what the stall rule prevents");

        var justAfter = Liveness.decide(two, "a", Map.of("b", 4_200L, "c", 100L, "d", 100L, "e", 100L), limit, NOW, resumed,
            grace, java.util.Set.of());
        assertEquals(List.of(), justAfter.commands(), "right after the stall nobody is declared down");
        // b's renewal queued behind the stall is applied 300 ms later: it is heard and stays up
        var renewed = Liveness.decide(two, "a", Map.of("b", 300L, "c", 100L, "d", 100L, "e", 100L), limit,
            NOW.plusMillis(1600), resumed, grace, java.util.Set.of("b", "c", "d", "e"));
        assertEquals(List.of(), renewed.commands());
        // a b that really died is declared down once the grace has passed without a renewal from it
        var dead = Liveness.decide(two, "a", Map.of("b", 5_800L, "c", 100L, "d", 100L, "e", 100L), limit,
            NOW.plusMillis(1600), resumed, grace, java.util.Set.of("c", "d", "e"));
        assertEquals(List.of(new SetNodeState("b", NodeState.DOWN)), dead.commands());
    }

    @Test
    void aDeadNodeDeclaredDownIsNotHeardAgainByWhatItAcknowledgedBeforeItDiedNorByTheLeaderSendingToIt() {
        var progress = new Liveness.Progress();
        progress.observe("b", 1900, false, NOW);
        progress.observe("c", 1900, false, NOW);
        // b's last renewal went out at NOW; it still acknowledged others' entries until it died 400 ms later
        progress.observe("b", 1941, false, NOW.plusMillis(400));
        // declared down at NOW + 3.1 s (its renewal silent past 3 s): its acknowledgements are only 2.7 s old,
        // and counting them heard it again at once (up, then down again, its lease count restarted)
        Instant declared = NOW.plusMillis(3100);
        progress.observe("b", 1941, true, declared);
        assertEquals(Long.MAX_VALUE, progress.silentMillis("b", declared.plusMillis(250)), "not moved since it was seen down");
        // the leader keeps sending to it (Raft's last-contact moves), but b acknowledges nothing: still silent
        for (int i = 1; i <= 8; i++) {
            progress.observe("b", 1941, true, declared.plusMillis(250L * i));
            progress.observe("c", 1941 + i, false, declared.plusMillis(250L * i));
        }
        Instant later = declared.plusSeconds(2);
        assertEquals(Long.MAX_VALUE, progress.silentMillis("b", later));
        assertEquals(0, progress.silentMillis("c", later));
        var nodes = List.of(node("a", NodeState.UP), node("b", NodeState.DOWN), node("c", NodeState.UP));
        var decision = Liveness.decide(nodes, "a", Map.of("b", progress.silentMillis("b", later), "c", 100L), Duration.ofSeconds(3),
            later, LONG_AGO);
        assertEquals(List.of(), decision.commands(), "b stays down: " + decision.notes());
        // once it answers (restarted, or its link back), its match index moves and it is heard again
        progress.observe("b", 1950, true, later.plusMillis(250));
        assertEquals(250, progress.silentMillis("b", later.plusMillis(500)));
        var back = Liveness.decide(nodes, "a", Map.of("b", progress.silentMillis("b", later.plusMillis(500)), "c", 100L),
            Duration.ofSeconds(3), later.plusMillis(500), LONG_AGO);
        assertEquals(List.of(new SetNodeState("b", NodeState.UP)), back.commands());
        assertTrue(back.notes().getFirst().contains("heard again (250 ms ago)"), back.notes().toString());
        progress.clear();
        assertEquals(Long.MAX_VALUE, progress.silentMillis("b", later), "a new leadership starts from nothing");
    }

    @Test
    void halfOfTheNodesLookingDeadDeclaresNoneDownForTheRestAreNoMajority() {
        // two nodes, b's agent restarting: a cannot commit alone, and its command would apply once b is back
        var two = List.of(node("a", NodeState.UP), node("b", NodeState.UP));
        var decision = Liveness.decide(two, "a", Map.of("b", 20_000L), DEAD_AFTER, NOW, LONG_AGO);
        assertEquals(List.of(), decision.commands());
        assertTrue(decision.notes().getFirst().contains("no majority"), decision.notes().toString());
        var four = List.of(node("a", NodeState.UP), node("b", NodeState.UP), node("c", NodeState.UP), node("d", NodeState.UP));
        assertEquals(List.of(), Liveness.decide(four, "a", Map.of("b", 20_000L, "c", 20_000L, "d", 100L), DEAD_AFTER, NOW,
            LONG_AGO).commands());
        assertEquals(List.of(new SetNodeState("b", NodeState.DOWN)), Liveness.decide(four, "a",
            Map.of("b", 20_000L, "c", 100L, "d", 100L), DEAD_AFTER, NOW, LONG_AGO).commands(), "three of four are a majority");
    }

    @Test
    void moreThanHalfLookingDeadAtOnceDeclaresNoneDown() {
        var nodes = List.of(node("a", NodeState.UP), node("b", NodeState.UP), node("c", NodeState.UP),
            node("d", NodeState.UP), node("e", NodeState.UP));
        var storm = Liveness.decide(nodes, "a", Map.of("b", 20_000L, "c", 20_000L, "d", 20_000L, "e", 10L), DEAD_AFTER,
            NOW, LONG_AGO);
        assertEquals(List.of(), storm.commands());
        assertTrue(storm.notes().getFirst().contains("fencing-storm guard"), storm.notes().toString());

        var two = Liveness.decide(nodes, "a", Map.of("b", 20_000L, "c", 20_000L, "d", 10L, "e", 10L), DEAD_AFTER,
            NOW, LONG_AGO);
        assertEquals(2, two.commands().size(), "two of five is not a storm");
    }

    @Test
    void theLeaderIsAlwaysUpAndANodeOutsideTheRaftGroupIsLeftAlone() {
        var nodes = List.of(node("a", NodeState.DOWN), node("b", NodeState.UP), node("new", NodeState.UP));
        var decision = Liveness.decide(nodes, "a", Map.of("b", 10L), DEAD_AFTER, NOW, LONG_AGO);
        assertEquals(List.of(new SetNodeState("a", NodeState.UP)), decision.commands());
    }
}
