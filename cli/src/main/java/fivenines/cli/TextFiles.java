package fivenines.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reads a text file the operator named, and says in plain words what is wrong with it when it cannot. */
final class TextFiles {
    /** Larger than any configuration file: a bigger one is a wrong file, not a config. */
    static final long MAX_BYTES = 16L << 20;

    private TextFiles() {
    }

    /** The file's text; {@code what} names what it should be ("a Xen domain config"). */
    static String read(Path file, String what) {
        if (Files.isDirectory(file)) {
            throw new Nines.UsageException(file + " is a folder; give " + what + " file");
        }
        byte[] bytes;
        try {
            if (Files.size(file) > MAX_BYTES) {
                throw new Nines.UsageException(file + " holds " + Files.size(file) + " bytes; " + what
                    + " is a text file of at most " + (MAX_BYTES >> 20) + " MiB: is it the right file?");
            }
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new Nines.UsageException(file + " does not exist; give the path of " + what);
        } catch (AccessDeniedException e) {
            throw new Nines.UsageException(file + " cannot be read: permission denied");
        } catch (IOException e) {
            throw new Nines.UsageException(file + " cannot be read (" + e.getClass().getSimpleName().replace("Exception", "")
                + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")");
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new Nines.UsageException(file + " is not a text file (not UTF-8 text at byte " + firstInvalidByte(bytes)
                + "); give " + what);
        }
    }

    private static int firstInvalidByte(byte[] bytes) {
        var decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT);
        var in = ByteBuffer.wrap(bytes);
        var out = java.nio.CharBuffer.allocate(bytes.length + 1);
        var result = decoder.decode(in, out, true);
        return result.isError() ? in.position() : bytes.length;
    }
}
