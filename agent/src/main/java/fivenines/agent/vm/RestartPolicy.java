package fivenines.agent.vm;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;

/**
 * How often a VM's QEMU is tried again after it failed to start (or died): a few tries with a
 * growing delay between them, then the VM is given up as failed with the last reason, so a VM
 * that cannot start neither stays "starting" nor fills the log with a retry every poll.
 * Only failures within the window count, so a guest that crashes now and then is restarted
 * each time. Pure: the time comes from the clock it is given.
 */
final class RestartPolicy {
    /** What to do after a failure. */
    sealed interface Decision {
        /** Try again, not before {@code at}. */
        record RetryAt(Instant at, int failures) implements Decision {
        }

        /** Give up: the VM is failed. */
        record GiveUp(int failures, String reason) implements Decision {
        }
    }

    private final InstantSource clock;
    private final int maxTries;
    private final Duration firstDelay;
    private final Duration window;
    private final java.util.ArrayDeque<Instant> failures = new java.util.ArrayDeque<>();
    private Instant notBefore = Instant.MIN;

    /**
     * @param maxTries   tries in all (the first one included) before giving up
     * @param firstDelay the wait after the first failure; each further failure doubles it
     * @param window     failures longer ago than this are forgotten
     */
    RestartPolicy(InstantSource clock, int maxTries, Duration firstDelay, Duration window) {
        if (maxTries < 1) {
            throw new IllegalArgumentException("maxTries must be at least 1, not " + maxTries);
        }
        this.clock = clock;
        this.maxTries = maxTries;
        this.firstDelay = firstDelay;
        this.window = window;
    }

    /** Three tries, 2 s then 4 s apart; a failure counts for a minute. */
    static RestartPolicy standard(InstantSource clock) {
        return new RestartPolicy(clock, 3, Duration.ofSeconds(2), Duration.ofMinutes(1));
    }

    /**
     * After a guest crashed (on_crash=restart): restarted at once, up to {@code restarts} times
     * within the window; the crash after that gives up and leaves the VM stopped.
     */
    static RestartPolicy crashes(InstantSource clock, int restarts, Duration window) {
        return new RestartPolicy(clock, restarts + 1, Duration.ZERO, window);
    }

    /** Records a failed start (or a death) now and says whether and when to try again. */
    Decision failed(String reason) {
        Instant now = clock.instant();
        while (!failures.isEmpty() && failures.peekFirst().isBefore(now.minus(window))) {
            failures.pollFirst();
        }
        failures.addLast(now);
        int count = failures.size();
        if (count >= maxTries) {
            notBefore = Instant.MAX;
            return new Decision.GiveUp(count, reason);
        }
        notBefore = now.plus(firstDelay.multipliedBy(1L << Math.min(count - 1, 20)));
        return new Decision.RetryAt(notBefore, count);
    }

    /** Whether the next try is due (always before any failure). */
    boolean mayTryNow() {
        return !clock.instant().isBefore(notBefore);
    }

    /** Failures recorded within the window (as of the latest). */
    int failures() {
        return failures.size();
    }
}
