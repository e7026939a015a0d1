package fivenines.systemtests;

import fivenines.testsupport.cluster.AgentProcess;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs the real nines CLI as a process, as an operator would. */
final class Cli {
    record Outcome(int exit, String out, String err) {
    }

    private Cli() {
    }

    static Outcome run(Map<String, String> environment, String... arguments) throws IOException, InterruptedException {
        var command = new ArrayList<>(List.of(AgentProcess.JAVA, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
            "-jar", AgentProcess.JAR.toString()));
        command.addAll(List.of(arguments));
        var builder = new ProcessBuilder(command);
        builder.environment().remove("NINES_TOKEN");
        builder.environment().putAll(environment);
        Process process = builder.start();
        process.getOutputStream().close();
        var out = process.getInputStream().readAllBytes();
        var err = process.getErrorStream().readAllBytes();
        if (!process.waitFor(120, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("nines " + String.join(" ", arguments) + " did not finish");
        }
        return new Outcome(process.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    /** The CLI against {@code agent}, with that agent's credential. */
    static Outcome nines(AgentProcess agent, String... arguments) throws IOException, InterruptedException {
        return run(agent.cliEnvironment(), arguments);
    }

    static void assertOutcome(int exit, String text, Outcome outcome) {
        org.junit.jupiter.api.Assertions.assertEquals(exit, outcome.exit(), outcome.toString());
        org.junit.jupiter.api.Assertions.assertTrue((outcome.out() + outcome.err()).contains(text),
            "expected '" + text + "' in " + outcome);
    }
}
