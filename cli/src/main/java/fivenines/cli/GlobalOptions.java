package fivenines.cli;

import picocli.CommandLine;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code --agent URL}, {@code --credential TOKEN} and {@code --json} may come before the
 * subcommand ({@code nines --agent URL cluster join ...}), as the README shows them; each
 * subcommand declares them itself, so they are moved to just after the subcommand's name.
 */
final class GlobalOptions {
    private static final Set<String> WITH_VALUE = Set.of("--agent", "--credential");
    private static final Set<String> FLAGS = Set.of("--json");

    private GlobalOptions() {
    }

    static String[] moveToSubcommand(CommandLine root, String[] args) {
        var moved = new ArrayList<String>();
        int i = 0;
        while (i < args.length) {
            String arg = args[i];
            String name = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
            if (WITH_VALUE.contains(name)) {
                if (arg.contains("=")) {
                    moved.add(arg);
                    i++;
                } else if (i + 1 < args.length) {
                    moved.add(arg);
                    moved.add(args[i + 1]);
                    i += 2;
                } else {
                    break; // picocli reports the missing value
                }
            } else if (FLAGS.contains(arg)) {
                moved.add(arg);
                i++;
            } else {
                break;
            }
        }
        if (moved.isEmpty()) {
            return args;
        }
        var rest = List.of(args).subList(i, args.length);
        int depth = 0;
        CommandLine current = root;
        while (depth < rest.size() && current.getSubcommands().containsKey(rest.get(depth))) {
            current = current.getSubcommands().get(rest.get(depth));
            depth++;
        }
        var result = new ArrayList<String>(rest.subList(0, depth));
        result.addAll(moved);
        result.addAll(rest.subList(depth, rest.size()));
        return result.toArray(String[]::new);
    }
}
