package fivenines.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class GlobalOptionsTest {
    private static String[] moved(String... args) {
        return GlobalOptions.moveToSubcommand(new CommandLine(new Nines()), args);
    }

    @Test
    void optionsBeforeTheSubcommandGoRightAfterItsName() {
        assertArrayEquals(new String[]{"cluster", "join", "--agent", "http://h:1", "seed:7600", "--token", "T"},
            moved("--agent", "http://h:1", "cluster", "join", "seed:7600", "--token", "T"));
        assertArrayEquals(new String[]{"lv", "list", "--agent=http://h:1", "--json"},
            moved("--agent=http://h:1", "--json", "lv", "list"));
        assertArrayEquals(new String[]{"lv", "list", "--json"}, moved("lv", "list", "--json"));
    }

    @Test
    void globalOptionsWorkBeforeTheSubcommand() {
        // no agent on port 9: the command gets as far as connecting, so the options were accepted (exit 1, not 2)
        assertEquals(1, Nines.run("--agent", "http://127.0.0.1:9", "--json", "lv", "list"));
        assertEquals(2, Nines.run("--agent", "http://127.0.0.1:9", "--bogus", "lv", "list"));
    }
}
