package fivenines.cli;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Sizes as LVM users type them ({@code lvcreate -L}): a number, possibly with a fraction, and an
 * optional unit of either case — b (bytes), s (512-byte sectors), k, m, g, t, p, e (powers of
 * 1024), optionally written KiB/MiB/...; without a unit the number means MiB, as in LVM. A leading
 * {@code +} or {@code -} makes the size relative (only where a command says it accepts that).
 */
final class Sizes {
    private static final Pattern SIZE = Pattern.compile("([+-]?)(\\d+(?:\\.\\d+)?|\\.\\d+)([bBsSkKmMgGtTpPeE]?)(?:(?<=[kKmMgGtTpPeE])[iI][bB])?");
    private static final String USAGE = "write a number with an optional unit: b (bytes), s (sectors), k, m, g, t, p or e"
        + " (powers of 1024, either case); without a unit it means MiB, as in LVM (e.g. 512M, 4G, 1.5T)";

    /** The sign of a size argument: absolute, or relative to the current size. */
    enum Sign {
        /** The size itself. */
        ABSOLUTE,
        /** The current size plus this many bytes. */
        PLUS,
        /** The current size minus this many bytes. */
        MINUS
    }

    /** A parsed size: its sign and its number of bytes (always more than zero). */
    record Size(Sign sign, long bytes) {
    }

    private Sizes() {
    }

    /** An absolute size; a sign is a usage error. */
    static long parse(String text) {
        Size size = parseSigned(text);
        if (size.sign() != Sign.ABSOLUTE) {
            throw new Nines.UsageException("size '" + text + "' is relative; this command takes a size without '+' or '-'");
        }
        return size.bytes();
    }

    /** A size that may be relative ({@code +1G}, {@code -512M}). */
    static Size parseSigned(String text) {
        var matcher = SIZE.matcher(text == null ? "" : text.strip());
        if (!matcher.matches()) {
            throw new Nines.UsageException("size '" + text + "' is not valid: " + USAGE);
        }
        Sign sign = switch (matcher.group(1)) {
            case "+" -> Sign.PLUS;
            case "-" -> Sign.MINUS;
            default -> Sign.ABSOLUTE;
        };
        String unit = matcher.group(3).toLowerCase(Locale.ROOT);
        long multiplier = switch (unit) {
            case "b" -> 1;
            case "s" -> 512;
            case "k" -> 1L << 10;
            case "", "m" -> 1L << 20;
            case "g" -> 1L << 30;
            case "t" -> 1L << 40;
            case "p" -> 1L << 50;
            case "e" -> 1L << 60;
            default -> throw new IllegalStateException("unit " + unit);
        };
        BigDecimal bytes = new BigDecimal(matcher.group(2)).multiply(BigDecimal.valueOf(multiplier))
            .setScale(0, RoundingMode.CEILING);
        if (bytes.signum() <= 0) {
            throw new Nines.UsageException("size '" + text + "' is zero: a size must be more than 0");
        }
        if (bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
            throw new Nines.UsageException("size '" + text + "' is too large: at most 8 EiB");
        }
        return new Size(sign, bytes.longValueExact());
    }

    static String format(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? bytes + " B" : String.format(Locale.ROOT, "%.2f %s", value, units[unit]);
    }
}
