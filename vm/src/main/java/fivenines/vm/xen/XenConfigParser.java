package fivenines.vm.xen;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads a Xen domain config (xm or xl syntax) into a {@link XenDomainConfig}. Whatever it
 * cannot honour becomes a warning, never a silent omission; input it cannot read at all is
 * refused with the line at fault.
 */
public final class XenConfigParser {
    private static final Set<String> ACTIONS = Set.of("destroy", "restart", "preserve", "rename-restart",
            "coredump-destroy", "coredump-restart", "soft-reset");
    private static final Set<String> HONOURED_ACTIONS = Set.of("destroy", "restart");
    private static final Pattern MAC = Pattern.compile("(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}");
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.+-]+");

    private XenConfigParser() {
    }

    public static XenDomainConfig parse(String text) throws XenConfigException {
        List<XenConfigReader.Assignment> assignments = XenConfigReader.read(text);
        var warnings = new ArrayList<String>();
        var seen = new HashSet<String>();
        for (var assignment : assignments) {
            if (!seen.add(assignment.key())) {
                warnings.add("line " + assignment.line() + ": " + assignment.key() + " is set again; the last value wins");
            }
        }
        Map<String, XenConfigReader.Assignment> byKey = XenConfigReader.lastByKey(assignments);
        var parser = new Parser(warnings);

        String name = parser.text(byKey, "name");
        if (name == null) {
            throw new XenConfigException(0, "the config has no name");
        }
        if (!NAME.matcher(name).matches()) {
            throw new XenConfigException(byKey.get("name").line(), "name '" + name + "' has characters a VM name cannot have");
        }
        Integer memory = parser.positive(byKey, "memory");
        Integer vcpus = parser.positive(byKey, "vcpus");
        String kernel = parser.text(byKey, "kernel");
        String ramdisk = parser.text(byKey, "ramdisk");
        String commandLine = commandLine(parser, byKey);
        List<XenDisk> disks = parser.disks(byKey.get("disk"));
        List<XenNic> nics = parser.nics(byKey.get("vif"));
        String onCrash = parser.action(byKey, "on_crash");
        String onReboot = parser.action(byKey, "on_reboot");
        String onPoweroff = parser.action(byKey, "on_poweroff");

        for (var assignment : byKey.values()) {
            if (!Parser.HANDLED.contains(assignment.key())) {
                warnings.add("line " + assignment.line() + ": " + assignment.key() + " = "
                        + assignment.value().describe() + " is not supported; ignored");
            }
        }
        return new XenDomainConfig(name, memory, vcpus, kernel == null ? null : Path.of(kernel),
                ramdisk == null ? null : Path.of(ramdisk), commandLine, disks, nics, onCrash, onReboot, onPoweroff, warnings);
    }

    /** xm joins {@code root} and {@code extra}; xl's {@code cmdline} replaces both. */
    private static String commandLine(Parser parser, Map<String, XenConfigReader.Assignment> byKey)
            throws XenConfigException {
        String cmdline = parser.text(byKey, "cmdline");
        String root = parser.text(byKey, "root");
        String extra = parser.text(byKey, "extra");
        if (cmdline != null) {
            if (root != null || extra != null) {
                parser.warnings.add("cmdline is set, so root and extra are not used (as in xl)");
            }
            return cmdline.strip();
        }
        var words = new ArrayList<String>();
        if (root != null && !root.isBlank()) {
            words.add("root=" + root.strip());
        }
        if (extra != null && !extra.isBlank()) {
            words.add(extra.strip());
        }
        return words.isEmpty() ? null : String.join(" ", words);
    }

    /** The per-value rules; collects warnings as it goes. */
    private static final class Parser {
        static final Set<String> HANDLED = Set.of("name", "memory", "vcpus", "kernel", "ramdisk", "root", "extra",
                "cmdline", "disk", "vif", "on_crash", "on_reboot", "on_poweroff");
        final List<String> warnings;

        Parser(List<String> warnings) {
            this.warnings = warnings;
        }

        String text(Map<String, XenConfigReader.Assignment> byKey, String key) throws XenConfigException {
            var assignment = byKey.get(key);
            if (assignment == null) {
                return null;
            }
            return switch (assignment.value()) {
                case XenValue.Text text -> text.text();
                case XenValue.Number number -> Long.toString(number.value());
                default -> throw new XenConfigException(assignment.line(), key + " must be a string, not "
                        + assignment.value().describe());
            };
        }

        Integer positive(Map<String, XenConfigReader.Assignment> byKey, String key) throws XenConfigException {
            var assignment = byKey.get(key);
            if (assignment == null) {
                return null;
            }
            long value;
            try {
                value = switch (assignment.value()) {
                    case XenValue.Number number -> number.value();
                    case XenValue.Text text -> Long.parseLong(text.text().strip());
                    default -> throw new NumberFormatException();
                };
            } catch (NumberFormatException notANumber) {
                throw new XenConfigException(assignment.line(), key + " must be a whole number, not "
                        + assignment.value().describe());
            }
            if (value < 1 || value > Integer.MAX_VALUE) {
                throw new XenConfigException(assignment.line(), key + " must be at least 1, not " + value);
            }
            return (int) value;
        }

        String action(Map<String, XenConfigReader.Assignment> byKey, String key) throws XenConfigException {
            String action = text(byKey, key);
            if (action == null) {
                return null;
            }
            int line = byKey.get(key).line();
            if (!ACTIONS.contains(action)) {
                throw new XenConfigException(line, key + " must be one of " + ACTIONS + ", not '" + action + "'");
            }
            if (!HONOURED_ACTIONS.contains(action)) {
                warnings.add("line " + line + ": " + key + " = '" + action + "' is not supported; restart is used instead");
                return "restart";
            }
            return action;
        }

        List<String> strings(XenConfigReader.Assignment assignment) throws XenConfigException {
            if (assignment == null) {
                return List.of();
            }
            List<XenValue> items = switch (assignment.value()) {
                case XenValue.ListOf list -> list.items();
                case XenValue.Text text -> List.of(text);
                default -> throw new XenConfigException(assignment.line(), assignment.key()
                        + " must be a list of strings, not " + assignment.value().describe());
            };
            var strings = new ArrayList<String>();
            for (XenValue item : items) {
                if (!(item instanceof XenValue.Text text)) {
                    throw new XenConfigException(item.line(), assignment.key() + " entries must be strings, not "
                            + item.describe());
                }
                strings.add(text.text());
            }
            return strings;
        }

        List<XenDisk> disks(XenConfigReader.Assignment assignment) throws XenConfigException {
            var disks = new ArrayList<XenDisk>();
            for (String entry : strings(assignment)) {
                XenDisk disk = disk(entry, assignment.line());
                if (disk != null) {
                    disks.add(disk);
                }
            }
            return disks;
        }

        /** {@code phy:vg/lv,sda1,w} and friends; null (with a warning) for a disk that cannot be mapped. */
        private XenDisk disk(String entry, int line) throws XenConfigException {
            String[] parts = entry.split(",", -1);
            if (parts.length != 3) {
                throw new XenConfigException(line, "disk '" + entry + "' is not 'source,device,mode'"
                        + (entry.contains("=") ? " (xl key=value disk syntax is not supported)" : ""));
            }
            String source = parts[0].strip();
            String device = parts[1].strip();
            String mode = parts[2].strip();
            boolean readOnly = switch (mode) {
                case "r", "ro" -> true;
                case "w", "rw" -> false;
                case "w!" -> {
                    warnings.add("line " + line + ": disk '" + entry + "': shared writable mode w! is not supported;"
                            + " the volume is attached to one VM at a time");
                    yield false;
                }
                default -> throw new XenConfigException(line, "disk '" + entry + "' has mode '" + mode + "', not r or w");
            };
            if (device.contains(":")) {
                warnings.add("line " + line + ": disk '" + entry + "': device type '"
                        + device.substring(device.indexOf(':') + 1) + "' is not supported; attached as a plain disk");
                device = device.substring(0, device.indexOf(':'));
            }
            int colon = source.indexOf(':');
            String kind = colon < 0 ? "" : source.substring(0, colon);
            String target = colon < 0 ? source : source.substring(colon + 1);
            switch (kind) {
                case "phy" -> {
                    String[] volume = volumeOf(target);
                    if (volume == null) {
                        warnings.add("line " + line + ": disk '" + entry + "': " + target
                                + " is not a logical volume (vg/lv); not imported");
                        return null;
                    }
                    return new XenDisk.Volume(volume[0], volume[1], device, readOnly);
                }
                case "file", "tap", "tap2" -> {
                    String path = target.replaceFirst("^(tapdisk:)?(aio|sync|qcow2?|vhd|raw):", "");
                    if (!path.startsWith("/")) {
                        throw new XenConfigException(line, "disk '" + entry + "': '" + path + "' is not an absolute path");
                    }
                    warnings.add("line " + line + ": disk '" + entry + "' is an image file on the Xen host;"
                            + " copy it into a volume before starting the VM");
                    return new XenDisk.File(Path.of(path), device, readOnly);
                }
                default -> {
                    warnings.add("line " + line + ": disk '" + entry + "': source type '" + kind + "' is not supported; not imported");
                    return null;
                }
            }
        }

        /** vg/lv, /dev/vg/lv or /dev/mapper/vg-lv (where '--' stands for a '-' in a name). */
        private static String[] volumeOf(String target) {
            String path = target.startsWith("/dev/") ? target.substring("/dev/".length()) : target;
            if (path.startsWith("mapper/")) {
                String mapped = path.substring("mapper/".length());
                var matcher = Pattern.compile("^((?:[^-]|--)+)-((?:[^-]|--)+)$").matcher(mapped);
                return matcher.matches()
                        ? new String[] {matcher.group(1).replace("--", "-"), matcher.group(2).replace("--", "-")}
                        : null;
            }
            String[] parts = path.split("/");
            if (parts.length != 2 || parts[0].isEmpty() || parts[1].isEmpty() || target.startsWith("/dev/") && parts[0].matches("sd[a-z]+|hd[a-z]+|md|disk")) {
                return null;
            }
            return parts;
        }

        List<XenNic> nics(XenConfigReader.Assignment assignment) throws XenConfigException {
            var nics = new ArrayList<XenNic>();
            for (String entry : strings(assignment)) {
                String mac = null;
                String bridge = null;
                for (String setting : entry.split(",")) {
                    if (setting.isBlank()) {
                        continue;
                    }
                    int equals = setting.indexOf('=');
                    if (equals < 0) {
                        throw new XenConfigException(assignment.line(), "vif setting '" + setting.strip() + "' is not key=value");
                    }
                    String key = setting.substring(0, equals).strip();
                    String value = setting.substring(equals + 1).strip();
                    switch (key) {
                        case "mac" -> {
                            if (!MAC.matcher(value).matches()) {
                                throw new XenConfigException(assignment.line(), "vif mac '" + value + "' is not a MAC address");
                            }
                            mac = value.toLowerCase(java.util.Locale.ROOT);
                        }
                        case "bridge" -> bridge = value;
                        case "ip" -> warnings.add("line " + assignment.line() + ": vif ip=" + value
                                + " is not enforced; the guest keeps configuring its own address");
                        default -> warnings.add("line " + assignment.line() + ": vif " + key + "=" + value
                                + " is not supported; ignored");
                    }
                }
                nics.add(new XenNic(mac, bridge));
            }
            return nics;
        }
    }
}
