package fivenines.model.lock;

import fivenines.model.cluster.NodeState;
import fivenines.model.command.AcquireLock;
import fivenines.model.command.AddNode;
import fivenines.model.command.CancelLockWait;
import fivenines.model.command.Command;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.ReleaseLock;
import fivenines.model.command.SetNodeState;
import fivenines.model.state.ClusterState;
import fivenines.model.state.Result;
import fivenines.model.state.StateMachine;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Fencing tokens of lock grants, over random acquire, release, cancel and node-down sequences. */
class LockTokenProperties {
    private static final List<String> NODES = List.of("n0", "n1", "n2");

    @Property(tries = 500)
    void everyNewGrantHasALargerTokenThanAnyGrantOfThatLockBefore(@ForAll("sequences") List<Command> commands) {
        var state = new ClusterState();
        var machine = new StateMachine(state);
        long index = 0;
        machine.apply(new CreateCluster("c", "a".repeat(64), "n0", "127.0.0.1:7600", "127.0.0.1:7601", 3), ++index);
        machine.apply(new AddNode("n1", "127.0.0.1:7610", "127.0.0.1:7611", false), ++index);
        machine.apply(new AddNode("n2", "127.0.0.1:7620", "127.0.0.1:7621", false), ++index);
        Map<String, Long> largestToken = new HashMap<>();
        Set<LockHolder> holdersBefore = Set.of();
        for (Command command : commands) {
            Result result = machine.apply(command, ++index);
            Set<LockHolder> holders = new HashSet<>();
            for (Lock lock : state.locks().locks()) {
                long largestBefore = largestToken.getOrDefault(lock.name(), 0L);
                for (LockHolder holder : lock.holders()) {
                    holders.add(holder);
                    assertTrue(holder.token() <= index, holder + " has a token from the future (index " + index + ")");
                    if (!holdersBefore.contains(holder)) {
                        assertEquals(index, holder.token(), "a grant by " + command + " carries another command's index");
                        assertTrue(holder.token() > largestBefore, "lock " + lock.name() + " granted to " + holder
                            + " by " + command + " with a token not above the largest before, " + largestBefore);
                    }
                    largestToken.merge(lock.name(), holder.token(), Math::max);
                }
                long exclusive = lock.holders().stream().filter(h -> h.mode() == LockMode.EX).count();
                assertTrue(exclusive == 0 || lock.holders().size() == 1, "EX held beside others: " + lock.holders());
            }
            if (command instanceof SetNodeState down && down.state() == NodeState.DOWN && result.applied()) {
                for (Lock lock : state.locks().locks()) {
                    assertTrue(lock.holders().stream().noneMatch(h -> h.node().equals(down.name()))
                            && lock.waiters().stream().noneMatch(h -> h.node().equals(down.name())),
                        "node " + down.name() + " was declared down but still holds or waits for " + lock);
                }
            }
            holdersBefore = holders;
        }
    }

    @Provide
    Arbitrary<List<Command>> sequences() {
        Arbitrary<String> nodes = Arbitraries.of(NODES);
        Arbitrary<String> owners = Arbitraries.of("a", "b");
        Arbitrary<String> locks = Arbitraries.of("l1", "l2");
        Arbitrary<Command> acquire = Combinators.combine(locks, Arbitraries.of(LockMode.class), nodes, owners,
            Arbitraries.of(true, false)).as(AcquireLock::new);
        Arbitrary<Command> release = Combinators.combine(locks, nodes, owners).as(ReleaseLock::new);
        Arbitrary<Command> cancel = Combinators.combine(locks, nodes, owners).as(CancelLockWait::new);
        Arbitrary<Command> nodeState = Combinators.combine(nodes, Arbitraries.of(NodeState.DOWN, NodeState.UP))
            .as(SetNodeState::new);
        return Arbitraries.frequencyOf(Tuple.of(8, acquire), Tuple.of(6, release), Tuple.of(2, cancel), Tuple.of(2, nodeState))
            .list().ofMaxSize(120);
    }
}
