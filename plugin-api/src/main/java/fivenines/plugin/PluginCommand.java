package fivenines.plugin;

import java.util.List;

/** A command a plugin answers at run time. Its result is shown to the operator as JSON. */
public interface PluginCommand {

    /** One line of help: what it does and which arguments it takes. */
    String help();

    /** Runs the command. Throw {@link IllegalArgumentException} for bad arguments, with what to type instead. */
    Object run(List<String> arguments) throws Exception;

    static PluginCommand of(String help, Runner runner) {
        return new PluginCommand() {
            @Override
            public String help() {
                return help;
            }

            @Override
            public Object run(List<String> arguments) throws Exception {
                return runner.run(arguments);
            }
        };
    }

    /** The body of a command. */
    @FunctionalInterface
    interface Runner {
        Object run(List<String> arguments) throws Exception;
    }
}
