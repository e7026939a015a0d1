package fivenines.model.state;

import fivenines.model.cluster.NodeState;
import fivenines.model.codec.Json;
import fivenines.model.command.AcquireLock;
import fivenines.model.command.AddNode;
import fivenines.model.command.CancelLockWait;
import fivenines.model.command.ChangeConfig;
import fivenines.model.command.Command;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.ReleaseLock;
import fivenines.model.command.RemoveNode;
import fivenines.model.command.SetNodeState;
import fivenines.model.lock.Lock;
import fivenines.model.lock.LockHolder;
import fivenines.model.lock.LockMode;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Random command sequences against the invariants of the state machine. */
class StateMachineProperties {

    @Property(tries = 300)
    void invariantsHoldForAnyCommandSequence(@ForAll("sequences") List<Command> commands) {
        var state = new ClusterState();
        var machine = new StateMachine(state);
        long index = 0;
        long lastVersion = 0;
        for (Command command : commands) {
            String before = Json.text(state.snapshot().membership()) + Json.text(state.snapshot().configuration())
                + Json.text(state.snapshot().locks());
            Result result = machine.apply(command, ++index);
            String after = Json.text(state.snapshot().membership()) + Json.text(state.snapshot().configuration())
                + Json.text(state.snapshot().locks());
            if (result instanceof Result.Rejected) {
                assertEquals(before, after, "a rejected " + command + " changed the state");
            }
            long version = state.configuration().version();
            assertTrue(version >= lastVersion, "config_version went back from " + lastVersion + " to " + version);
            if (command instanceof ChangeConfig && result.applied()) {
                assertEquals(lastVersion + 1, version, "an accepted change bumps config_version by one");
            }
            lastVersion = version;
            for (Lock lock : state.locks().locks()) {
                long exclusive = lock.holders().stream().filter(h -> h.mode() == LockMode.EX).count();
                assertTrue(exclusive == 0 || lock.holders().size() == 1,
                    "lock " + lock.name() + " mixes an EX holder with others: " + lock.holders());
                assertTrue(!lock.holders().isEmpty() || lock.waiters().isEmpty(),
                    "lock " + lock.name() + " has waiters but nobody holds it: " + lock.waiters());
                for (LockHolder holder : lock.holders()) {
                    assertTrue(state.membership().node(holder.node()).map(n -> n.state() == NodeState.UP).orElse(false),
                        "lock " + lock.name() + " held by a node that is gone or down: " + holder);
                }
            }
            assertTrue(state.membership().voterCount() <= state.membership().maxVoters());
        }
        // replaying the same log on a fresh replica gives the same state
        var replica = new StateMachine(new ClusterState());
        long i = 0;
        for (Command command : commands) {
            replica.apply(command, ++i);
        }
        assertEquals(Json.text(state.snapshot()), Json.text(replica.state().snapshot()));
    }

    @Provide
    Arbitrary<List<Command>> sequences() {
        Arbitrary<String> nodes = Arbitraries.of("n0", "n1", "n2", "n3", "bad name");
        Arbitrary<String> owners = Arbitraries.of("a", "b", "c");
        Arbitrary<String> locks = Arbitraries.of("l1", "l2", "");
        Arbitrary<String> keys = Arbitraries.of("k1", "k2", "k3", "bad key");
        Arbitrary<LockMode> modes = Arbitraries.of(LockMode.class);
        Arbitrary<Command> create = Arbitraries.of(
            new CreateCluster("c", "a".repeat(64), "n0", "127.0.0.1:7600", "127.0.0.1:7601", 3));
        Arbitrary<Command> add = Combinators.combine(nodes, Arbitraries.integers().between(1, 4), Arbitraries.of(true, false))
            .as((n, port, witness) -> new AddNode(n, "127.0.0.1:76" + port + "0", "127.0.0.1:76" + port + "1", witness));
        Arbitrary<Command> remove = nodes.map(n -> new RemoveNode(n, "test"));
        Arbitrary<Command> state = Combinators.combine(nodes, Arbitraries.of(NodeState.class)).as(SetNodeState::new);
        Arbitrary<Command> config = Combinators.combine(keys, Arbitraries.strings().ofMaxLength(5), Arbitraries.of(true, false),
                Arbitraries.longs().between(0, 6).injectNull(0.7))
            .as((k, v, unset, expected) -> unset
                ? new ChangeConfig(Map.of(), List.of(k), expected)
                : new ChangeConfig(Map.of(k, v), List.of(), expected));
        Arbitrary<Command> acquire = Combinators.combine(locks, modes, nodes, owners, Arbitraries.of(true, false))
            .as(AcquireLock::new);
        Arbitrary<Command> release = Combinators.combine(locks, nodes, owners).as(ReleaseLock::new);
        Arbitrary<Command> cancel = Combinators.combine(locks, nodes, owners).as(CancelLockWait::new);
        Arbitrary<Command> any = Arbitraries.frequencyOf(
            net.jqwik.api.Tuple.of(1, create), net.jqwik.api.Tuple.of(3, add), net.jqwik.api.Tuple.of(1, remove),
            net.jqwik.api.Tuple.of(2, state), net.jqwik.api.Tuple.of(4, config), net.jqwik.api.Tuple.of(8, acquire),
            net.jqwik.api.Tuple.of(5, release), net.jqwik.api.Tuple.of(2, cancel));
        return Combinators.combine(create, any.list().ofMaxSize(80)).as((first, rest) -> {
            var all = new java.util.ArrayList<Command>();
            all.add(first);
            all.addAll(rest);
            return all;
        });
    }
}
