package fivenines.testsupport.history;

import java.util.Objects;
import java.util.Optional;

/**
 * One exclusive lock (partition by key = the lock's name). Holders are named NODE/OWNER.
 * Operations:
 * <ul>
 * <li>{@code acquire}: input the holder, output Boolean granted (false: it was held, and not waited for);
 * <li>{@code release}: input the holder, output Boolean released (false: that holder did not hold it);
 * <li>{@code expire}: input a node: the node was declared down, and whatever it held was let go.
 * </ul>
 */
public final class LockModel implements Model<LockModel.State> {
    /** The holder, or null when the lock is free. */
    public record State(String holder) {
    }

    private static final State FREE = new State(null);

    @Override
    public State initial() {
        return FREE;
    }

    @Override
    public Optional<State> step(State state, Op op) {
        boolean known = op.outcome() == Op.Outcome.OK;
        String who = (String) op.input();
        return switch (op.function()) {
            case "acquire" -> {
                boolean free = state.holder() == null;
                if (!known) {
                    yield Optional.of(free ? new State(who) : state);
                }
                boolean granted = (Boolean) op.output();
                yield granted == free ? Optional.of(granted ? new State(who) : state) : Optional.empty();
            }
            case "release" -> {
                boolean holds = Objects.equals(state.holder(), who);
                if (!known) {
                    yield Optional.of(holds ? FREE : state);
                }
                boolean released = (Boolean) op.output();
                yield released == holds ? Optional.of(released ? FREE : state) : Optional.empty();
            }
            case "expire" -> Optional.of(state.holder() != null && state.holder().startsWith(who + "/") ? FREE : state);
            default -> throw new IllegalArgumentException("no lock operation '" + op.function() + "'");
        };
    }
}
