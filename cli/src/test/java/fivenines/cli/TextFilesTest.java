package fivenines.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** A wrong file named on the command line is explained, not reported as a Java exception's text. */
class TextFilesTest {
    @TempDir
    Path dir;

    private String refusal(Path file) {
        return assertThrows(Nines.UsageException.class, () -> TextFiles.read(file, "a Xen domain config")).getMessage();
    }

    @Test
    void aBinaryFileIsNamedAsNotText() throws Exception {
        Path garbage = Files.write(dir.resolve("garbage.bin"), new byte[]{'n', 'a', 'm', 'e', (byte) 0xff, 0, 1});
        assertEquals(garbage + " is not a text file (not UTF-8 text at byte 4); give a Xen domain config", refusal(garbage));
    }

    @Test
    void aMissingFileAFolderAndAnUnreadableFileSayWhatIsWrong() throws Exception {
        assertEquals(dir.resolve("nonexistent.xml") + " does not exist; give the path of a Xen domain config",
            refusal(dir.resolve("nonexistent.xml")));
        assertEquals(dir + " is a folder; give a Xen domain config file", refusal(dir));
    }

    @Test
    void textIsReadAsItIs() throws Exception {
        Path config = Files.writeString(dir.resolve("web-00"), "name = 'web-00'\nmemory = 256\n");
        assertEquals("name = 'web-00'\nmemory = 256\n", TextFiles.read(config, "a Xen domain config"));
    }
}
