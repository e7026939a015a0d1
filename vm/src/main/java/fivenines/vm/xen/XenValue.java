package fivenines.vm.xen;

import java.util.List;

/** A value on the right of {@code key = value} in a Xen config (Python literal syntax). */
sealed interface XenValue {
    int line();

    /** A quoted string. */
    record Text(String text, int line) implements XenValue {
    }

    /** An integer. */
    record Number(long value, int line) implements XenValue {
    }

    /** A bare word such as {@code True} or {@code None}. */
    record Word(String word, int line) implements XenValue {
    }

    /** A bracketed list, possibly over several lines. */
    record ListOf(List<XenValue> items, int line) implements XenValue {
    }

    /** How the value was written, for warnings. */
    default String describe() {
        return switch (this) {
            case Text text -> "'" + text.text() + "'";
            case Number number -> Long.toString(number.value());
            case Word word -> word.word();
            case ListOf list -> list.items().stream().map(XenValue::describe).toList().toString();
        };
    }
}
