package fivenines.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sizes follow lvcreate's -L rules (lvm(8), "Size"): default unit MiB, units of either case. */
class SizesTest {

    @ParameterizedTest
    @CsvSource({
        "100, 104857600",        // no unit: MiB, not bytes
        "0.5, 524288",           // a fraction of the default unit
        "1.5G, 1610612736",
        "512b, 512", "512B, 512",
        "8s, 4096", "8S, 4096",  // 512-byte sectors
        "4k, 4096", "4K, 4096",
        "4m, 4194304", "4M, 4194304",
        "1g, 1073741824", "1G, 1073741824",
        "1t, 1099511627776", "1T, 1099511627776",
        "1p, 1125899906842624", "1P, 1125899906842624",
        "1e, 1152921504606846976",
        "4GiB, 4294967296", "4gib, 4294967296",
        "' 4G ', 4294967296",
    })
    void readsSizesAsLvmDoes(String text, long bytes) {
        assertEquals(bytes, Sizes.parse(text));
    }

    @ParameterizedTest
    @ValueSource(strings = {"10D", "10F", "1e3", "G", "", "4 G", "4GB", "4bib", "0x10", "1,5G", "--1G", "1.G", "NaN", "Infinity"})
    void refusesWhatLvmRefusesWithAUsageError(String text) {
        var error = assertThrows(Nines.UsageException.class, () -> Sizes.parse(text));
        assertTrue(error.getMessage().contains("MiB"), error.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "0G", "0.0", "+0"})
    void refusesZero(String text) {
        assertThrows(Nines.UsageException.class, () -> Sizes.parseSigned(text));
    }

    @Test
    void refusesWhatDoesNotFitEightExbibytes() {
        var error = assertThrows(Nines.UsageException.class, () -> Sizes.parse("8e"));
        assertTrue(error.getMessage().contains("too large"), error.getMessage());
        assertEquals(Long.MAX_VALUE - 1023, Sizes.parse("9007199254740991k")); // (2^53 - 1) KiB still fits
    }

    @Test
    void relativeSizesKeepTheirSign() {
        assertEquals(new Sizes.Size(Sizes.Sign.PLUS, 1L << 30), Sizes.parseSigned("+1G"));
        assertEquals(new Sizes.Size(Sizes.Sign.MINUS, 512L << 20), Sizes.parseSigned("-512"));
        assertEquals(new Sizes.Size(Sizes.Sign.ABSOLUTE, 8L << 30), Sizes.parseSigned("8G"));
    }

    @Test
    void anAbsoluteSizeRefusesASign() {
        var error = assertThrows(Nines.UsageException.class, () -> Sizes.parse("+1G"));
        assertTrue(error.getMessage().contains("relative"), error.getMessage());
    }

    @Test
    void lvExtendWithAMinusIsAUsageErrorBeforeAnyRequest() {
        // no agent listens on port 9: a usage error must come before any connection is tried
        int code = Nines.run("lv", "extend", "--agent", "http://127.0.0.1:9", "-L", "-1G", "vg/lv");
        assertEquals(2, code);
        assertEquals(2, Nines.run("lv", "create", "--agent", "http://127.0.0.1:9", "-n", "x", "-L", "10D", "vg"));
        assertEquals(2, Nines.run("lv", "create", "--agent", "http://127.0.0.1:9", "-n", "x", "-L", "0", "vg"));
    }
}
