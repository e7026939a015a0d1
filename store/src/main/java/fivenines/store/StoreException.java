package fivenines.store;

/**
 * A store operation that failed. {@link #mayHaveHappened()} tells the caller whether the
 * command may still have been committed (a timeout or a lost leader) or definitely was not.
 */
public final class StoreException extends RuntimeException {
    private final boolean mayHaveHappened;

    public StoreException(String message, boolean mayHaveHappened, Throwable cause) {
        super(message, cause);
        this.mayHaveHappened = mayHaveHappened;
    }

    public boolean mayHaveHappened() {
        return mayHaveHappened;
    }
}
