package fivenines.manager.watchdog;

/** No watchdog: kicks go nowhere; the description says why there is none. */
public final class NoWatchdog implements Watchdog {
    private final String why;

    public NoWatchdog(String why) {
        this.why = why;
    }

    @Override
    public void kick() {
    }

    @Override
    public boolean armed() {
        return false;
    }

    @Override
    public String description() {
        return "none: " + why;
    }

    @Override
    public void close() {
    }
}
