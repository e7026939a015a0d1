package fivenines.model.state;

import java.util.regex.Pattern;

/** Validation of the names and keys that commands carry. */
public final class Names {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,62}");
    private static final Pattern CONFIG_KEY = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}");
    private static final Pattern LOCK_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}");
    private static final Pattern ADDRESS = Pattern.compile("[A-Za-z0-9_.:\\[\\]-]{1,255}:[0-9]{1,5}");
    static final int MAX_CONFIG_VALUE = 64 * 1024;

    private Names() {
    }

    public static String requireName(String what, String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw Rejection.invalid(what + " name '" + name
                + "' is not valid: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        return name;
    }

    public static String requireConfigKey(String key) {
        if (key == null || !CONFIG_KEY.matcher(key).matches()) {
            throw Rejection.invalid("config key '" + key
                + "' is not valid: use 1-200 letters, digits, '.', '_', ':', '/' or '-', starting with a letter or digit");
        }
        return key;
    }

    public static String requireConfigValue(String key, String value) {
        if (value == null) {
            throw Rejection.invalid("config key '" + key + "' has no value; use unset to remove a key");
        }
        if (value.length() > MAX_CONFIG_VALUE) {
            throw Rejection.invalid("config value of '" + key + "' is " + value.length()
                + " characters; the limit is " + MAX_CONFIG_VALUE);
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < 0x20 && c != '\t' && c != '\n') {
                throw Rejection.invalid("config value of '" + key + "' holds control character 0x"
                    + Integer.toHexString(c) + "; only tab and newline are allowed");
            }
        }
        return value;
    }

    public static String requireLockName(String name) {
        if (name == null || !LOCK_NAME.matcher(name).matches()) {
            throw Rejection.invalid("lock name '" + name
                + "' is not valid: use 1-200 letters, digits, '.', '_', ':', '/' or '-', starting with a letter or digit");
        }
        return name;
    }

    public static String requireAddress(String what, String address) {
        if (address == null || !ADDRESS.matcher(address).matches()) {
            throw Rejection.invalid(what + " '" + address + "' is not valid: expected HOST:PORT");
        }
        int port = Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
        if (port < 1 || port > 65535) {
            throw Rejection.invalid(what + " '" + address + "' has port " + port + ", outside 1-65535");
        }
        return address;
    }
}
