package fivenines.model.ha;

/**
 * The HA manager's view of a VM with HA on.
 *
 * @param why         what it waits for or why it failed, or null
 * @param relocations recoveries onto another node since an operator last started it
 */
public record HaStatus(HaState state, String why, int relocations) {
    public static final HaStatus STARTED = new HaStatus(HaState.STARTED, null, 0);

    public HaStatus with(HaState newState, String newWhy) {
        return new HaStatus(newState, newWhy, relocations);
    }
}
