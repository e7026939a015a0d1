package fivenines.model.state;

/** The outcome of applying a command: applied with a value, or rejected with nothing changed. */
public sealed interface Result {

    record Applied(long index, Object value) implements Result {
    }

    record Rejected(long index, Rejection.Reason reason, String message) implements Result {
    }

    default boolean applied() {
        return this instanceof Applied;
    }
}
