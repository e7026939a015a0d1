package fivenines.testsupport.metrics;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for tests that scrape
 * {@code /metrics}. It refuses, naming the line, what Prometheus' own parser refuses and what its
 * conventions rule out: a sample before its family's TYPE, a second TYPE or HELP, a family whose
 * samples are not together, a bad metric or label name, a label value that is not a properly
 * escaped quoted string, a repeated label or series, a value that is not a float; a counter whose
 * samples do not end in {@code _total} or that is negative; a histogram without {@code le} on its
 * buckets, with buckets out of order or not cumulative, without a last {@code le="+Inf"} bucket
 * equal to its {@code _count}, or without {@code _sum} and {@code _count}; a text not ending in a newline.
 */
public final class PrometheusText {
    private static final Pattern METRIC_NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern LABEL_NAME = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");
    private static final Set<String> TYPES = Set.of("counter", "gauge", "histogram", "summary", "untyped");

    /** One sample: its full name (with any {@code _total}, {@code _bucket} suffix), labels and value. */
    public record Sample(String name, Map<String, String> labels, double value) {
    }

    /** A metric family: its TYPE, HELP and samples in order. */
    public record Family(String name, String type, String help, List<Sample> samples) {
    }

    private final Map<String, Family> families;

    private PrometheusText(Map<String, Family> families) {
        this.families = families;
    }

    public Map<String, Family> families() {
        return families;
    }

    /** The family of this name, or an AssertionError naming the families there are. */
    public Family family(String name) {
        Family family = families.get(name);
        if (family == null) {
            throw new AssertionError("no metric family " + name + " among " + families.keySet());
        }
        return family;
    }

    /** The samples named {@code name} whose labels include every pair of {@code labels} (name, value, name, value…). */
    public List<Sample> samples(String name, String... labels) {
        var wanted = new TreeMap<String, String>();
        for (int i = 0; i + 1 < labels.length; i += 2) {
            wanted.put(labels[i], labels[i + 1]);
        }
        var found = new ArrayList<Sample>();
        for (Family family : families.values()) {
            for (Sample sample : family.samples()) {
                if (sample.name().equals(name) && sample.labels().entrySet().containsAll(wanted.entrySet())) {
                    found.add(sample);
                }
            }
        }
        return found;
    }

    /** The one sample's value, or an AssertionError when there is none or more than one. */
    public double value(String name, String... labels) {
        List<Sample> found = samples(name, labels);
        if (found.size() != 1) {
            throw new AssertionError(found.size() + " samples " + name + " " + List.of(labels) + ": " + found);
        }
        return found.getFirst().value();
    }

    /** Parses {@code text}, or throws IllegalArgumentException naming the line and the rule it breaks. */
    public static PrometheusText parse(String text) {
        if (!text.isEmpty() && !text.endsWith("\n")) {
            throw new IllegalArgumentException("the text does not end in a newline");
        }
        var families = new LinkedHashMap<String, Family>();
        var types = new LinkedHashMap<String, String>();
        var helps = new LinkedHashMap<String, String>();
        var closed = new HashSet<String>();
        var series = new HashSet<String>();
        String current = null;
        String[] lines = text.split("\n", -1);
        for (int n = 0; n < lines.length - 1; n++) {
            String line = lines[n];
            String where = "line " + (n + 1) + " '" + line + "': ";
            if (line.isBlank()) {
                continue;
            }
            if (line.startsWith("#")) {
                String[] parts = line.split("[ \t]+", 4);
                if (parts.length >= 3 && (parts[1].equals("HELP") || parts[1].equals("TYPE"))) {
                    String name = parts[2];
                    if (!METRIC_NAME.matcher(name).matches()) {
                        throw new IllegalArgumentException(where + "'" + name + "' is not a metric name");
                    }
                    if (families.containsKey(name) || closed.contains(name)) {
                        throw new IllegalArgumentException(where + parts[1] + " of " + name + " after its samples");
                    }
                    var seen = parts[1].equals("HELP") ? helps : types;
                    if (seen.containsKey(name)) {
                        throw new IllegalArgumentException(where + "a second " + parts[1] + " line for " + name);
                    }
                    String rest = parts.length > 3 ? parts[3] : "";
                    if (parts[1].equals("TYPE")) {
                        if (!TYPES.contains(rest)) {
                            throw new IllegalArgumentException(where + "'" + rest + "' is not a metric type");
                        }
                        if (rest.equals("counter") && !name.endsWith("_total")) {
                            throw new IllegalArgumentException(where + "counter " + name + " does not end in _total");
                        }
                    } else {
                        checkHelpEscapes(rest, where);
                    }
                    seen.put(name, rest);
                }
                continue;
            }
            Sample sample = sample(line, where);
            String family = familyOf(sample.name(), types);
            if (!family.equals(current)) {
                if (current != null) {
                    closed.add(current);
                }
                if (closed.contains(family)) {
                    throw new IllegalArgumentException(where + "the samples of " + family + " are not together");
                }
                current = family;
            }
            String type = types.get(family);
            if (type == null) {
                throw new IllegalArgumentException(where + "a sample of " + family + " before (or without) its TYPE line");
            }
            String key = sample.name() + sample.labels();
            if (!series.add(key)) {
                throw new IllegalArgumentException(where + "a second sample of the series " + key);
            }
            if (type.equals("counter") && (!sample.name().equals(family) || sample.value() < 0 || Double.isNaN(sample.value()))) {
                throw new IllegalArgumentException(where + "a counter's sample must be named " + family + " and not negative");
            }
            if (type.equals("gauge") && !sample.name().equals(family)) {
                throw new IllegalArgumentException(where + "a gauge's sample must be named " + family);
            }
            families.computeIfAbsent(family, f -> new Family(f, type, helps.get(f), new ArrayList<>())).samples().add(sample);
        }
        types.keySet().forEach(name -> families.computeIfAbsent(name, f -> new Family(f, types.get(f), helps.get(f), new ArrayList<>())));
        for (Family family : families.values()) {
            if (family.type().equals("histogram")) {
                checkHistogram(family);
            }
        }
        return new PrometheusText(families);
    }

    private static String familyOf(String sampleName, Map<String, String> types) {
        if (types.containsKey(sampleName)) {
            return sampleName;
        }
        for (String suffix : List.of("_bucket", "_sum", "_count")) {
            if (sampleName.endsWith(suffix)) {
                String base = sampleName.substring(0, sampleName.length() - suffix.length());
                if (types.containsKey(base) && (types.get(base).equals("histogram") || types.get(base).equals("summary"))) {
                    return base;
                }
            }
        }
        return sampleName;
    }

    private static void checkHistogram(Family family) {
        String name = family.name();
        // per series (labels without le): buckets in order, cumulative, ending at +Inf == _count; a _sum
        var buckets = new LinkedHashMap<Map<String, String>, List<double[]>>();
        var counts = new LinkedHashMap<Map<String, String>, Double>();
        var sums = new HashSet<Map<String, String>>();
        for (Sample sample : family.samples()) {
            var labels = new TreeMap<>(sample.labels());
            if (sample.name().equals(name + "_bucket")) {
                String le = labels.remove("le");
                if (le == null) {
                    throw new IllegalArgumentException(name + ": a bucket without an le label: " + sample);
                }
                buckets.computeIfAbsent(labels, l -> new ArrayList<>()).add(new double[]{number(le, name + " le"), sample.value()});
            } else if (sample.name().equals(name + "_count")) {
                counts.put(labels, sample.value());
            } else if (sample.name().equals(name + "_sum")) {
                sums.add(labels);
            } else if (!sample.name().equals(name + "_created")) {
                throw new IllegalArgumentException(name + ": a histogram's sample " + sample.name()
                    + " is none of _bucket, _sum, _count");
            }
        }
        if (!buckets.keySet().equals(counts.keySet()) || !sums.equals(counts.keySet())) {
            throw new IllegalArgumentException(name + ": series with buckets " + buckets.keySet() + ", with _count "
                + counts.keySet() + ", with _sum " + sums);
        }
        buckets.forEach((labels, list) -> {
            double lastLe = Double.NEGATIVE_INFINITY;
            double lastCount = 0;
            for (double[] bucket : list) {
                if (bucket[0] <= lastLe) {
                    throw new IllegalArgumentException(name + labels + ": buckets not in increasing le order");
                }
                if (bucket[1] < lastCount) {
                    throw new IllegalArgumentException(name + labels + ": bucket le=" + bucket[0] + " counts less than the one before"
                        + " (buckets are cumulative)");
                }
                lastLe = bucket[0];
                lastCount = bucket[1];
            }
            if (lastLe != Double.POSITIVE_INFINITY) {
                throw new IllegalArgumentException(name + labels + ": the last bucket is not le=\"+Inf\"");
            }
            if (lastCount != counts.get(labels)) {
                throw new IllegalArgumentException(name + labels + ": the +Inf bucket (" + lastCount + ") differs from _count ("
                    + counts.get(labels) + ")");
            }
        });
    }

    private static Sample sample(String line, String where) {
        int i = 0;
        while (i < line.length() && line.charAt(i) != '{' && line.charAt(i) != ' ' && line.charAt(i) != '\t') {
            i++;
        }
        String name = line.substring(0, i);
        if (!METRIC_NAME.matcher(name).matches()) {
            throw new IllegalArgumentException(where + "'" + name + "' is not a metric name");
        }
        var labels = new LinkedHashMap<String, String>();
        if (i < line.length() && line.charAt(i) == '{') {
            i++;
            while (true) {
                if (i < line.length() && line.charAt(i) == '}') {
                    i++;
                    break;
                }
                int eq = line.indexOf('=', i);
                if (eq < 0) {
                    throw new IllegalArgumentException(where + "a label without '='");
                }
                String label = line.substring(i, eq);
                if (!LABEL_NAME.matcher(label).matches() || label.startsWith("__")) {
                    throw new IllegalArgumentException(where + "'" + label + "' is not a label name");
                }
                i = eq + 1;
                if (i >= line.length() || line.charAt(i) != '"') {
                    throw new IllegalArgumentException(where + "the value of label " + label + " is not quoted");
                }
                i++;
                var value = new StringBuilder();
                while (true) {
                    if (i >= line.length()) {
                        throw new IllegalArgumentException(where + "the value of label " + label + " is not closed");
                    }
                    char c = line.charAt(i++);
                    if (c == '"') {
                        break;
                    }
                    if (c == '\\') {
                        char e = i < line.length() ? line.charAt(i++) : ' ';
                        switch (e) {
                            case '\\' -> value.append('\\');
                            case '"' -> value.append('"');
                            case 'n' -> value.append('\n');
                            default -> throw new IllegalArgumentException(where + "'\\" + e + "' is not an escape in a label value");
                        }
                    } else {
                        value.append(c);
                    }
                }
                if (labels.put(label, value.toString()) != null) {
                    throw new IllegalArgumentException(where + "label " + label + " twice");
                }
                if (i < line.length() && line.charAt(i) == ',') {
                    i++;
                } else if (i >= line.length() || line.charAt(i) != '}') {
                    throw new IllegalArgumentException(where + "labels must be separated by ',' and closed by '}'");
                }
            }
        }
        String rest = line.substring(i);
        if (rest.isEmpty() || (rest.charAt(0) != ' ' && rest.charAt(0) != '\t')) {
            throw new IllegalArgumentException(where + "no value after the name and labels");
        }
        String[] fields = rest.strip().split("[ \t]+");
        if (fields.length > 2) {
            throw new IllegalArgumentException(where + "more than a value and a timestamp");
        }
        double value = number(fields[0], where + "the value");
        if (fields.length == 2 && !fields[1].matches("-?[0-9]+")) {
            throw new IllegalArgumentException(where + "the timestamp '" + fields[1] + "' is not an integer (milliseconds)");
        }
        return new Sample(name, Map.copyOf(labels), value);
    }

    private static double number(String text, String what) {
        return switch (text) {
            case "+Inf", "Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            case "NaN" -> Double.NaN;
            default -> {
                if (!text.matches("[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?")) {
                    throw new IllegalArgumentException(what + ": '" + text + "' is not a float");
                }
                yield Double.parseDouble(text);
            }
        };
    }

    private static void checkHelpEscapes(String help, String where) {
        for (int i = 0; i < help.length(); i++) {
            if (help.charAt(i) == '\\') {
                char e = i + 1 < help.length() ? help.charAt(i + 1) : ' ';
                if (e != '\\' && e != 'n') {
                    throw new IllegalArgumentException(where + "'\\" + e + "' is not an escape in HELP");
                }
                i++;
            }
        }
    }
}
