package fivenines.agent.plugin;

/** Where a plugin is in its lifecycle. */
public enum PluginState {
    /** Loaded, never started or stopped since. */
    STOPPED,
    /** Its start is under way. */
    STARTING,
    /** Started and not stopped. */
    RUNNING,
    /** Its stop is under way. */
    STOPPING,
    /** Its start or stop threw; see its health. */
    FAILED;

    boolean canStart() {
        return this == STOPPED || this == FAILED;
    }
}
