package fivenines.block.nbd;

import java.io.IOException;

/** An I/O failure that must reach the NBD client as a particular error number. */
public final class NbdErrorException extends IOException {
    private final int errno;

    public NbdErrorException(int errno, String message) {
        super(message);
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
