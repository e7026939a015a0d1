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
 * <li>A leader that has led for less than {@code deadAfter} declares nobody down: what it knows
 *     of the others' silence began at its election, not before.
 * <li>If more than half of the nodes would be declared down at once, none is, and the decision
 *     says so (oVirt's fencing-storm guard): the leader's own view is then the likelier fault.
 * <li>A node not yet in the Raft group (being admitted) is left alone.
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
                notes.add("node " + node.name() + " is heard again: declaring it up");
            }
        }
        if (dead.isEmpty()) {
            return new Decision(commands, notes);
        }
        Duration leading = Duration.between(leaderSince, now);
        if (leading.compareTo(deadAfter) < 0) {
            notes.add("leader for " + leading.toMillis() + " ms only: " + names(dead) + " silent, but nobody is declared"
                + " down before " + deadAfter.toMillis() + " ms of leading");
        } else if (dead.size() * 2 > nodes.size()) {
            notes.add(dead.size() + " of " + nodes.size() + " nodes look dead at once (" + names(dead)
                + "): declaring none down (fencing-storm guard); check this node's network");
        } else {
            for (Node node : dead) {
                commands.add(new SetNodeState(node.name(), NodeState.DOWN));
                notes.add("node " + node.name() + " silent for " + silentMillis.get(node.name()) + " ms: declaring it down");
            }
        }
        return new Decision(commands, notes);
    }

    private static List<String> names(List<Node> nodes) {
        return nodes.stream().map(Node::name).toList();
    }
}
