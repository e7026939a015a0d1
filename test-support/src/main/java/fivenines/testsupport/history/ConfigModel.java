package fivenines.testsupport.history;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The store's configuration: keys with string values and one version for all of them, bumped by
 * every accepted change. Operations (key = the config key):
 * <ul>
 * <li>{@code get}: output {@link Read} (value null when the key is not set; version -1 when not told);
 * <li>{@code set}: input the value, output the new version (a Long);
 * <li>{@code cas}: input {@link Cas}, output the new version, or {@link #CONFLICT} when the version had moved.
 * </ul>
 * The version is cluster-wide, so one partition holds every key.
 */
public final class ConfigModel implements Model<ConfigModel.State> {
    public static final String CONFLICT = "conflict";

    public record State(long version, Map<String, String> values) {
        public State {
            values = Map.copyOf(values);
        }

        State with(String key, String value) {
            var next = new HashMap<>(values);
            next.put(key, value);
            return new State(version + 1, next);
        }
    }

    public record Read(String value, long version) {
    }

    public record Cas(long expectedVersion, String value) {
    }

    private final State initial;

    public ConfigModel(long version, Map<String, String> values) {
        this.initial = new State(version, values);
    }

    @Override
    public State initial() {
        return initial;
    }

    @Override
    public Optional<State> step(State state, Op op) {
        boolean known = op.outcome() == Op.Outcome.OK;
        return switch (op.function()) {
            case "get" -> {
                if (!known) {
                    yield Optional.of(state);
                }
                var read = (Read) op.output();
                boolean same = Objects.equals(read.value(), state.values().get(op.key()))
                    && (read.version() < 0 || read.version() == state.version());
                yield same ? Optional.of(state) : Optional.empty();
            }
            case "set" -> {
                State next = state.with(op.key(), (String) op.input());
                yield !known || Objects.equals(op.output(), next.version()) ? Optional.of(next) : Optional.empty();
            }
            case "cas" -> {
                var cas = (Cas) op.input();
                boolean matches = cas.expectedVersion() == state.version();
                if (!known) {
                    yield Optional.of(matches ? state.with(op.key(), cas.value()) : state);
                }
                if (CONFLICT.equals(op.output())) {
                    yield matches ? Optional.empty() : Optional.of(state);
                }
                State next = state.with(op.key(), cas.value());
                yield matches && Objects.equals(op.output(), next.version()) ? Optional.of(next) : Optional.empty();
            }
            default -> throw new IllegalArgumentException("no config operation '" + op.function() + "'");
        };
    }
}
