package fivenines.model.cman;

/** A cluster.conf that cannot be read at all; nothing is imported. */
public final class CmanConfigException extends Exception {
    public CmanConfigException(String message) {
        super(message);
    }
}
