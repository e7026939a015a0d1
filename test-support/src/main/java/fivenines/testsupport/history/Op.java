package fivenines.testsupport.history;

/**
 * One operation of a recorded history: a client {@code process} invoked {@code function} on
 * {@code key} with {@code input} at {@code invoked} (monotonic nanoseconds) and saw it complete
 * at {@code completed} with {@code output}. A process runs one operation at a time.
 *
 * @param outcome OK (it happened, with this output), FAILED (it certainly did not happen) or
 *                UNKNOWN (no answer: it may have happened at any time after it was invoked)
 */
public record Op(int id, int process, String function, String key, Object input, Object output,
                 long invoked, long completed, Outcome outcome) {
    public enum Outcome { OK, FAILED, UNKNOWN }

    public Op {
        if (outcome != Outcome.UNKNOWN && completed < invoked) {
            throw new IllegalArgumentException("operation " + id + " completed before it was invoked");
        }
    }

    /** When it may have taken effect last: never known for an operation without an answer. */
    long effectiveCompletion() {
        return outcome == Outcome.UNKNOWN ? Long.MAX_VALUE : completed;
    }

    @Override
    public String toString() {
        return "#" + id + " p" + process + " " + function + "(" + key + (input == null ? "" : ", " + input) + ")"
            + switch (outcome) {
                case OK -> " -> " + output;
                case FAILED -> " failed";
                case UNKNOWN -> " -> ?";
            } + " [" + invoked + ".." + (outcome == Outcome.UNKNOWN ? "" : completed) + "]";
    }
}
