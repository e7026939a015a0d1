package fivenines.model.vm;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import fivenines.model.state.Rejection;

import java.util.Arrays;
import java.util.Locale;

/** What the node running a VM last reported of it. Written in lower case in commands, snapshots and the API. */
public enum GuestState {
    /** Being started (or retried after a failed start: the detail says why). */
    STARTING,
    /** QEMU runs the guest. */
    RUNNING,
    /** QEMU holds the guest paused (asked for, or stopped by an I/O error: the detail says which). */
    PAUSED,
    /** No QEMU runs it. */
    STOPPED,
    /** The guest or its QEMU crashed and was left so (on_crash, or too many restarts). */
    CRASHED,
    /** Moving live to another node. */
    MIGRATING,
    /** It could not start: the detail says why; it is stopped and holds nothing. */
    FAILED;

    @JsonValue
    public String word() {
        return name().toLowerCase(Locale.ROOT);
    }

    @Override
    public String toString() {
        return word();
    }

    /** Stopped, crashed or failed: nothing more happens to it until it is asked to run again. */
    public boolean off() {
        return this == STOPPED || this == CRASHED || this == FAILED;
    }

    /** The state named by {@code word}, or a rejection naming the choices. */
    @JsonCreator
    public static GuestState of(String word) {
        return Arrays.stream(values()).filter(s -> s.word().equals(word)).findFirst()
            .orElseThrow(() -> Rejection.invalid("VM phase '" + word + "' is not one of " + Arrays.toString(values())));
    }
}
