package fivenines.agent.vm;

/**
 * What to do when a VM's guest crashed or its QEMU died, from its {@code on_crash} and the
 * crashes it had lately. Pure: the restart count is the {@link RestartPolicy}'s, on its clock.
 */
sealed interface CrashResponse {
    /** Leave the crashed QEMU as it is, for inspection (on_crash=preserve). */
    record Preserve() implements CrashResponse {
    }

    /** Stop it and leave it stopped (on_crash=destroy). */
    record Destroy() implements CrashResponse {
    }

    /** Start a new QEMU at once (on_crash=restart). */
    record Restart() implements CrashResponse {
    }

    /** Too many crashes lately: stop it and leave it stopped, saying why. */
    record GiveUp(String why) implements CrashResponse {
    }

    /** Records the crash in {@code crashes} (when on_crash=restart) and decides. */
    static CrashResponse decide(String onCrash, RestartPolicy crashes, int maxRestarts, String why) {
        return switch (onCrash) {
            case "preserve" -> new Preserve();
            case "destroy" -> new Destroy();
            default -> crashes.failed(why) instanceof RestartPolicy.Decision.GiveUp
                ? new GiveUp(why + "; restarted " + maxRestarts + " times within a minute, left stopped")
                : new Restart();
        };
    }
}
