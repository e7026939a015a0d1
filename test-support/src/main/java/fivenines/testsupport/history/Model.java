package fivenines.testsupport.history;

import java.util.Optional;

/**
 * A sequential specification: from a state, an operation either could have produced what it
 * was seen to produce (giving the next state) or could not. States must have value equality:
 * the checker remembers the states it has tried.
 */
public interface Model<S> {
    S initial();

    /**
     * The state after {@code op}, or empty when {@code op}'s output cannot come from {@code state}.
     * An operation with an UNKNOWN outcome has no output to check: it only changes the state.
     */
    Optional<S> step(S state, Op op);
}
