package fivenines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** A command that reads one API resource and prints it: as JSON with --json, else for people. */
abstract class ApiView implements Runnable {
    @Mixin
    AgentOptions agent;

    @Option(names = "--json", description = "print JSON")
    boolean json;

    /** The API path to read. */
    abstract String path();

    /** Prints the answer for people. */
    abstract void print(JsonNode answer);

    @Override
    public void run() {
        JsonNode answer = agent.client().get(path());
        if (json) {
            Output.json(System.out, answer);
        } else {
            print(answer);
        }
    }
}
