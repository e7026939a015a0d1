package fivenines.model.lock;

/** Lock modes, named as in the DLM. */
public enum LockMode {
    /** Protected read: shared with other PR holders. */
    PR,
    /** Exclusive: one holder, no PR holders. */
    EX;

    public boolean compatibleWith(LockMode other) {
        return this == PR && other == PR;
    }
}
