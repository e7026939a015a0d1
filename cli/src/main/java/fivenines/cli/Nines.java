package fivenines.cli;

import fivenines.agent.AgentStartException;
import fivenines.agent.client.AgentClientException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The nines command: the agent itself, and a client of its API for everything else. */
@Command(name = "nines", mixinStandardHelpOptions = true, versionProvider = Nines.Version.class,
    description = "fivenines: a few ordinary Linux machines as one cluster that keeps VMs running.",
    subcommands = {UpCommand.class, AgentCommand.class, ClusterCommand.class, ConfigCommand.class,
        LockCommand.class, FenceCommand.class, AoeCommand.class, HaCommand.class, NodeCommand.class, McpCommand.class, PhysicalVolumeCommand.class, VolumeGroupCommand.class,
        LogicalVolumeCommand.class, VmCommand.class, CommandLine.HelpCommand.class})
public final class Nines {
    static final int EXIT_FAILED = 1;
    static final int EXIT_MAY_HAVE_HAPPENED = 3;

    public static void main(String[] args) {
        Logging.configure();
        System.exit(run(args));
    }

    public static int run(String... args) {
        var commandLine = new CommandLine(new Nines());
        args = GlobalOptions.moveToSubcommand(commandLine, args);
        commandLine.setExecutionExceptionHandler((exception, line, parseResult) -> {
            if (exception instanceof AgentClientException e) {
                line.getErr().println("error: " + e.getMessage());
                return e.mayHaveHappened() ? EXIT_MAY_HAVE_HAPPENED : EXIT_FAILED;
            }
            if (exception instanceof AgentStartException e) {
                // one line that names what is wrong and what to do; the cause is in the agent's log above
                line.getErr().println("error: " + e.getMessage());
                return EXIT_FAILED;
            }
            if (exception instanceof CommandFailed e) {
                line.getErr().println("error: " + e.getMessage());
                return EXIT_FAILED;
            }
            if (exception instanceof UsageException e) {
                line.getErr().println("error: " + e.getMessage());
                return CommandLine.ExitCode.USAGE;
            }
            throw exception;
        });
        return commandLine.execute(args);
    }

    /** Bad arguments found after parsing (a file that does not exist, say). */
    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message, null, false, false);
        }
    }

    /** The command ran and found something wrong (a check that failed): exit 1 with why. */
    static final class CommandFailed extends RuntimeException {
        CommandFailed(String message) {
            super(message, null, false, false);
        }
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = Nines.class.getPackage().getImplementationVersion();
            return new String[]{"nines " + (version == null ? "development build" : version)};
        }
    }
}
