package fivenines.model.cman;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * What an import has gathered so far: config keys, report lines and errors. Every key passes
 * through here, so every key and value it yields is one the store accepts (the rules of
 * {@code fivenines.model.state.Names}); names that would make an invalid key are sanitised and
 * the renaming is reported.
 */
final class ImportLedger {
    private static final Pattern CONFIG_KEY = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}");
    private static final Pattern NOT_IN_A_KEY = Pattern.compile("[^A-Za-z0-9_.:/-]");
    private static final int MAX_CONFIG_VALUE = 64 * 1024;

    final TreeMap<String, String> config = new TreeMap<>();
    final List<String> report = new ArrayList<>();
    final List<String> errors = new ArrayList<>();
    private final Map<String, String> keySources = new HashMap<>();
    private final Set<String> reportedRenames = new HashSet<>();

    /**
     * The name as it can appear inside a config key: each character a key cannot hold becomes
     * '_'. A change is reported once per name.
     */
    String keyPart(String kind, String name) {
        String sanitised = NOT_IN_A_KEY.matcher(name).replaceAll("_");
        if (!sanitised.equals(name) && reportedRenames.add(kind + "\0" + name)) {
            report.add("renamed: " + kind + " '" + name + "' appears as '" + sanitised
                + "' in config keys (a key holds only letters, digits and _ . : / -)");
        }
        return sanitised;
    }

    /**
     * Adds one key. A key too long, a value the store would refuse, or a key that two different
     * elements map onto (names that differ only in characters a key cannot hold) is not added.
     */
    void put(String key, String value, String source) {
        if (!CONFIG_KEY.matcher(key).matches()) {
            report.add("not imported: " + source + ": the key '" + abbreviate(key) + "' is longer than 200 characters");
            return;
        }
        String problem = valueProblem(value);
        if (problem != null) {
            report.add("not imported: " + source + ": its value " + problem);
            return;
        }
        String earlier = keySources.putIfAbsent(key, source);
        if (earlier != null) {
            errors.add(source + " and " + earlier + " both map onto config key '" + key
                + "'; rename one of them");
            return;
        }
        config.put(key, value);
    }

    void report(String line) {
        report.add(line);
    }

    void error(String line) {
        errors.add(line);
    }

    private static String valueProblem(String value) {
        if (value.length() > MAX_CONFIG_VALUE) {
            return "is " + value.length() + " characters, over the limit of " + MAX_CONFIG_VALUE;
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < 0x20 && c != '\t' && c != '\n') {
                return "holds control character 0x" + Integer.toHexString(c);
            }
        }
        return null;
    }

    private static String abbreviate(String text) {
        return text.length() <= 60 ? text : text.substring(0, 57) + "...";
    }
}
