package fivenines.model.vm;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import fivenines.model.state.Rejection;

import java.util.Arrays;
import java.util.Locale;

/** What the operator wants of a VM. Written in lower case in commands, snapshots and the API. */
public enum DesiredState {
    /** Run it (placed on a node, started there). */
    RUNNING,
    /** Keep it off; it holds no attachments. */
    STOPPED,
    /** Keep its QEMU, with the guest paused. */
    PAUSED;

    @JsonValue
    public String word() {
        return name().toLowerCase(Locale.ROOT);
    }

    @Override
    public String toString() {
        return word();
    }

    /** The state named by {@code word}, or a rejection naming the choices. */
    @JsonCreator
    public static DesiredState of(String word) {
        return Arrays.stream(values()).filter(s -> s.word().equals(word)).findFirst()
            .orElseThrow(() -> Rejection.invalid("a VM can be " + Arrays.toString(values()) + ", not '" + word + "'"));
    }
}
