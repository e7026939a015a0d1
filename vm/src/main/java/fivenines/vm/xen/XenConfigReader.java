package fivenines.vm.xen;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the syntax of xm/xl domain configs: {@code key = value} statements, one per line or
 * separated by ';', values being quoted strings, integers, bare words or bracketed lists that
 * may span lines; '#' starts a comment outside strings.
 */
final class XenConfigReader {
    /** A statement: its key, value and line. */
    record Assignment(String key, XenValue value, int line) {
    }

    private final String text;
    private int position;
    private int line = 1;

    private XenConfigReader(String text) {
        this.text = text;
    }

    /** The assignments in order; a key given twice is kept twice, for the caller to warn about. */
    static List<Assignment> read(String text) throws XenConfigException {
        var reader = new XenConfigReader(text);
        var assignments = new ArrayList<Assignment>();
        while (true) {
            reader.skipBlankAndComments(true);
            if (reader.atEnd()) {
                return assignments;
            }
            assignments.add(reader.assignment());
        }
    }

    static Map<String, Assignment> lastByKey(List<Assignment> assignments) {
        var byKey = new LinkedHashMap<String, Assignment>();
        for (Assignment assignment : assignments) {
            byKey.put(assignment.key(), assignment);
        }
        return byKey;
    }

    private Assignment assignment() throws XenConfigException {
        int keyLine = line;
        String key = identifier();
        if (key.isEmpty()) {
            throw new XenConfigException(line, "expected a key, found '" + printable(peek()) + "'");
        }
        skipBlankAndComments(false);
        if (atEnd() || peek() != '=') {
            throw new XenConfigException(keyLine, "expected '=' after key '" + key + "'");
        }
        position++;
        skipBlankAndComments(false);
        if (atEnd() || peek() == '\n') {
            throw new XenConfigException(keyLine, "key '" + key + "' has no value");
        }
        XenValue value = value();
        skipBlankAndComments(false);
        if (!atEnd()) {
            char next = peek();
            if (next == ';' || next == '\n') {
                position++;
                if (next == '\n') {
                    line++;
                }
            } else {
                throw new XenConfigException(line, "unexpected '" + printable(next) + "' after the value of '" + key + "'");
            }
        }
        return new Assignment(key, value, keyLine);
    }

    private XenValue value() throws XenConfigException {
        char first = peek();
        int valueLine = line;
        if (first == '\'' || first == '"') {
            return new XenValue.Text(quoted(), valueLine);
        }
        if (first == '[') {
            position++;
            var items = new ArrayList<XenValue>();
            while (true) {
                skipBlankAndComments(true);
                if (atEnd()) {
                    throw new XenConfigException(valueLine, "list opened here is never closed with ']'");
                }
                if (peek() == ']') {
                    position++;
                    return new XenValue.ListOf(List.copyOf(items), valueLine);
                }
                items.add(value());
                skipBlankAndComments(true);
                if (atEnd()) {
                    throw new XenConfigException(valueLine, "list opened here is never closed with ']'");
                }
                if (peek() == ',') {
                    position++;
                } else if (peek() != ']') {
                    throw new XenConfigException(line, "expected ',' or ']' in list, found '" + printable(peek()) + "'");
                }
            }
        }
        if (first == '-' || Character.isDigit(first)) {
            int start = position++;
            while (!atEnd() && (Character.isLetterOrDigit(peek()) || peek() == '_')) {
                position++;
            }
            String number = text.substring(start, position).replace("_", "");
            try {
                return new XenValue.Number(Long.decode(number), valueLine);
            } catch (NumberFormatException notANumber) {
                throw new XenConfigException(valueLine, "not a number: " + number);
            }
        }
        String word = identifier();
        if (word.isEmpty()) {
            throw new XenConfigException(valueLine, "expected a value, found '" + printable(first) + "'");
        }
        return new XenValue.Word(word, valueLine);
    }

    private String quoted() throws XenConfigException {
        char quote = text.charAt(position++);
        int startLine = line;
        var value = new StringBuilder();
        while (true) {
            if (atEnd() || peek() == '\n') {
                throw new XenConfigException(startLine, "string is not closed with " + quote);
            }
            char c = text.charAt(position++);
            if (c == quote) {
                return value.toString();
            }
            if (c == '\\' && !atEnd()) {
                char escaped = text.charAt(position++);
                value.append(switch (escaped) {
                    case 'n' -> '\n';
                    case 't' -> '\t';
                    default -> escaped;
                });
            } else {
                value.append(c);
            }
        }
    }

    private String identifier() {
        int start = position;
        while (!atEnd() && (Character.isLetterOrDigit(peek()) || peek() == '_')) {
            position++;
        }
        return text.substring(start, position);
    }

    /** Skips spaces and comments, and newlines too when {@code newlines} (inside lists, between statements). */
    private void skipBlankAndComments(boolean newlines) {
        while (!atEnd()) {
            char c = peek();
            if (c == '#') {
                while (!atEnd() && peek() != '\n') {
                    position++;
                }
            } else if (c == '\n' && newlines) {
                line++;
                position++;
            } else if (c == '\\' && position + 1 < text.length() && text.charAt(position + 1) == '\n') {
                // a Python line continuation
                line++;
                position += 2;
            } else if (c == ' ' || c == '\t' || c == '\r' || (c == ';' && newlines)) {
                position++;
            } else {
                return;
            }
        }
    }

    private boolean atEnd() {
        return position >= text.length();
    }

    private char peek() {
        return text.charAt(position);
    }

    private static String printable(char c) {
        return Character.isISOControl(c) ? String.format("\\u%04x", (int) c) : String.valueOf(c);
    }
}
