package fivenines.model.command;

import java.util.List;
import java.util.Map;

/**
 * Sets and removes configuration keys in one step; every accepted change bumps
 * {@code config_version} by one. With {@code expectedVersion} set, the change applies only
 * if the version is still that one (compare-and-set).
 */
public record ChangeConfig(Map<String, String> set, List<String> unset, Long expectedVersion) implements Command {
    public ChangeConfig {
        set = set == null ? Map.of() : Map.copyOf(set);
        unset = unset == null ? List.of() : List.copyOf(unset);
    }

    public static ChangeConfig set(String key, String value) {
        return new ChangeConfig(Map.of(key, value), List.of(), null);
    }

    public static ChangeConfig unset(String key) {
        return new ChangeConfig(Map.of(), List.of(key), null);
    }
}
