package fivenines.block.nbd;

import java.io.IOException;

/** The server answered the client's NBD_OPT_GO with an error reply: it is up, but will not serve that export. */
public final class NbdRefusedException extends IOException {
    private final int reply;

    NbdRefusedException(String message, int reply, Throwable cause) {
        super(message, cause);
        this.reply = reply;
    }

    int reply() {
        return reply;
    }

    /** The server has no export of the name asked for (NBD_REP_ERR_UNKNOWN). */
    public boolean unknownExport() {
        return reply == NbdProtocol.REP_ERR_UNKNOWN;
    }
}
