package fivenines.manager.liveness;

import fivenines.model.cluster.Node;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.SetNodeState;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Decides, on the store's leader, which nodes to declare DOWN or UP from how long the leader
 * has not heard each (Raft's own heartbeats). Pure: the caller gives the time.
 *
 * <ul>
 * <li>A node silent longer than {@code deadAfter} is declared DOWN (it then loses its locks); one
 *     heard again is declared UP. The leader itself is always UP.
 * <li>A leader that has led for less than {@code deadAfter} declares down only nodes that have not
 *     renewed their lease with it at all, once it has led for {@code newLeaderGrace} (every node
 *     that is alive renews within that of an election); others wait until it has led for
 *     {@code deadAfter}: what it knows of their silence began at its election, not before. So the
 *     death of the leader itself is not detected an election plus {@code deadAfter} late. The
 *     price: a node that is paused across an election, for longer than the grace, and whose last
 *     renewal is older than {@code deadAfter} (the election's own gap counts), is declared down.
 * <li>If more than half of the nodes would be declared down at once, none is, and the decision
 *     says so (oVirt's fencing-storm guard): the leader's own view is then the likelier fault. If
 *     exactly half would be, none is either: the rest are no majority, so the command would commit
 *     only once the others are back, and then declare down a node that had returned.
 * <li>A node not yet in the Raft group (being admitted) is left alone.
 * <li>A leader whose own judging stopped for longer than a stall (a long GC, a machine so loaded
 *     that its timer ran seconds late, the agent paused) judges afterwards as a new leader would
 *     ({@link #judgingSince}): during the stall it applied nobody's renewals, so every node's silence
 *     grew by the stall, and the renewals queued behind it are applied only after it.
 * </ul>
 */
public final class Liveness {
    private Liveness() {
    }

    public record Decision(List<SetNodeState> commands, List<String> notes) {
        public Decision {
            commands = List.copyOf(commands);
            notes = List.copyOf(notes);
        }
    }

    /**
     * @param silentMillis for each node in the Raft group other than the leader, how long ago the
     *                     leader last heard it
     */
    public static Decision decide(List<Node> nodes, String leader, Map<String, Long> silentMillis, Duration deadAfter,
                                  Instant now, Instant leaderSince) {
        return decide(nodes, leader, silentMillis, deadAfter, now, leaderSince, deadAfter, java.util.Set.of());
    }

    /**
     * @param newLeaderGrace     how long a new leader waits before it declares down a node not heard since its election
     * @param heardSinceLeading  the nodes whose lease renewal this leader has applied since its election
     */
    public static Decision decide(List<Node> nodes, String leader, Map<String, Long> silentMillis, Duration deadAfter,
                                  Instant now, Instant leaderSince, Duration newLeaderGrace,
                                  java.util.Set<String> heardSinceLeading) {
        var commands = new ArrayList<SetNodeState>();
        var notes = new ArrayList<String>();
        var dead = new ArrayList<Node>();
        for (Node node : nodes) {
            if (node.name().equals(leader)) {
                if (node.state() == NodeState.DOWN) {
                    commands.add(new SetNodeState(node.name(), NodeState.UP));
                }
                continue;
            }
            Long silent = silentMillis.get(node.name());
            if (silent == null) {
                continue;
            }
            boolean silentTooLong = silent > deadAfter.toMillis();
            if (silentTooLong && node.state() == NodeState.UP) {
                dead.add(node);
            } else if (!silentTooLong && node.state() == NodeState.DOWN) {
                commands.add(new SetNodeState(node.name(), NodeState.UP));
                notes.add("node " + node.name() + " is heard again (" + silent + " ms ago): declaring it up");
            }
        }
        if (dead.isEmpty()) {
            return new Decision(commands, notes);
        }
        Duration leading = Duration.between(leaderSince, now);
        if (leading.compareTo(deadAfter) < 0) {
            var unheard = dead.stream().filter(n -> !heardSinceLeading.contains(n.name())).toList();
            if (leading.compareTo(newLeaderGrace) < 0 || unheard.isEmpty()) {
                notes.add("leader for " + leading.toMillis() + " ms only: " + names(dead) + " silent, but nobody is declared"
                    + " down before " + Math.min(newLeaderGrace.toMillis(), deadAfter.toMillis()) + " ms of leading"
                    + (unheard.size() < dead.size() ? " (" + deadAfter.toMillis() + " ms for a node heard since)" : ""));
                return new Decision(commands, notes);
            }
            dead = new ArrayList<>(unheard);
        }
        if (dead.size() * 2 > nodes.size()) {
            notes.add(dead.size() + " of " + nodes.size() + " nodes look dead at once (" + names(dead)
                + "): declaring none down (fencing-storm guard); check this node's network");
        } else if ((nodes.size() - dead.size()) * 2 <= nodes.size()) {
            // half of the nodes: this leader has no majority, so its command would commit only once the others are
            // back, and then declare down a node that had returned (its volumes fenced under its running guests)
            notes.add(names(dead) + " silent, but the " + (nodes.size() - dead.size()) + " of " + nodes.size()
                + " nodes left are no majority: declaring none down (it would take effect only once a majority is back)");
        } else {
            for (Node node : dead) {
                commands.add(new SetNodeState(node.name(), NodeState.DOWN));
                notes.add("node " + node.name() + " silent for " + silentMillis.get(node.name()) + " ms"
                    + (leading.compareTo(deadAfter) < 0 ? " and not heard since this leader's election " + leading.toMillis()
                    + " ms ago" : "") + ": declaring it down");
            }
        }
        return new Decision(commands, notes);
    }

    /**
     * From when this leader's judging counts: {@code now} when it has just begun to lead
     * ({@code since} is null) or when its previous judging ended more than {@code stall} ago,
     * else {@code since}. All on one monotonic clock.
     *
     * @param previousEnd when its previous judging ended, null if none has
     */
    public static Instant judgingSince(Instant since, Instant previousEnd, Instant now, Duration stall) {
        if (since == null || previousEnd == null || Duration.between(previousEnd, now).compareTo(stall) > 0) {
            return now;
        }
        return since;
    }

    /**
     * How long ago each follower last acknowledged something new (its match index moved), as the
     * leader sees it. Raft's own last-contact time moves when the leader merely sends to a peer, so
     * a dead node declared down looked heard again 300 ms later, was declared up (which restarts its
     * lease's count), and down again. A node that is down renews nothing, so only this can hear it
     * again; while any node is up, entries (their renewals) reach every live follower every
     * half-second. Not thread-safe: the leader's one liveness thread uses it. Pure: the caller gives the time.
     */
    public static final class Progress {
        private record Seen(long matchIndex, Instant movedAt, boolean down) {
        }

        private final Map<String, Seen> seen = new java.util.HashMap<>();

        /**
         * What the leader sees of {@code node} now: its match index, and whether the store holds it down.
         * A node seen down for the first time counts as not moved since: its last acknowledgements came
         * a little after its last renewal (it acknowledged others' entries until it died), so counting
         * them would hear it again at once, declare it up and down again.
         */
        public void observe(String node, long matchIndex, boolean down, Instant now) {
            Seen before = seen.get(node);
            if (before == null) {
                seen.put(node, new Seen(matchIndex, null, down)); // first sight: not yet known to move
            } else if (down && !before.down()) {
                seen.put(node, new Seen(matchIndex, null, true));
            } else if (matchIndex > before.matchIndex()) {
                seen.put(node, new Seen(matchIndex, now, down));
            } else if (down != before.down()) {
                seen.put(node, new Seen(before.matchIndex(), before.movedAt(), down));
            }
        }

        /**
         * How long ago {@code node}'s match index last moved, in ms; {@link Long#MAX_VALUE} if it has not moved
         * since first seen, or since it was first seen down.
         */
        public long silentMillis(String node, Instant now) {
            Seen s = seen.get(node);
            return s == null || s.movedAt() == null ? Long.MAX_VALUE : Duration.between(s.movedAt(), now).toMillis();
        }

        /** Forgets everything (this replica no longer leads). */
        public void clear() {
            seen.clear();
        }
    }

    private static List<String> names(List<Node> nodes) {
        return nodes.stream().map(Node::name).toList();
    }
}
