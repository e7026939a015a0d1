package fivenines.model.lock;

/** What an acquire did: granted at once, or queued behind others. */
public record LockOutcome(Status status, Lock lock) {
    public enum Status {
        /** The requester holds the lock. */
        GRANTED,
        /** The requester waits in line; a later release grants it. */
        QUEUED
    }
}
