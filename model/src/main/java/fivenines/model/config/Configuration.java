package fivenines.model.config;

import fivenines.model.command.ChangeConfig;
import fivenines.model.state.Names;
import fivenines.model.state.Rejection;

import java.util.Collections;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/** Cluster configuration as keys and values, with a version that every accepted change bumps. */
public final class Configuration {
    private final TreeMap<String, String> values = new TreeMap<>();
    private long version;

    public long version() {
        return version;
    }

    public SortedMap<String, String> values() {
        return Collections.unmodifiableSortedMap(values);
    }

    public Optional<String> get(String key) {
        return Optional.ofNullable(values.get(key));
    }

    public long apply(ChangeConfig change) {
        if (change.set().isEmpty() && change.unset().isEmpty()) {
            throw Rejection.invalid("a config change must set or unset at least one key");
        }
        if (change.expectedVersion() != null && change.expectedVersion() != version) {
            throw new Rejection(Rejection.Reason.VERSION_MISMATCH, "config_version is " + version
                + ", not " + change.expectedVersion() + "; read the config again and retry");
        }
        change.set().forEach((k, v) -> {
            Names.requireConfigKey(k);
            Names.requireConfigValue(k, v);
        });
        var unset = new HashSet<String>();
        for (String key : change.unset()) {
            Names.requireConfigKey(key);
            if (change.set().containsKey(key)) {
                throw Rejection.invalid("config key '" + key + "' is both set and unset in one change");
            }
            if (!values.containsKey(key)) {
                throw Rejection.notFound("config key '" + key + "' is not set");
            }
            unset.add(key);
        }
        var after = new TreeMap<>(values);
        after.putAll(change.set());
        unset.forEach(after::remove);
        var changed = new HashSet<>(change.set().keySet());
        changed.addAll(unset);
        Settings.check(changed, after);
        values.putAll(change.set());
        unset.forEach(values::remove);
        return ++version;
    }

    public Snapshot snapshot() {
        return new Snapshot(version, new TreeMap<>(values));
    }

    public void restore(Snapshot snapshot) {
        version = snapshot.version();
        values.clear();
        values.putAll(snapshot.values());
    }

    /** The serialisable form of this part of the state. */
    public record Snapshot(long version, Map<String, String> values) {
    }
}
