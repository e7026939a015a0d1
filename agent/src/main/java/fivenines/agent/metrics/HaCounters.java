package fivenines.agent.metrics;

import fivenines.model.ha.FenceState;

import java.util.concurrent.atomic.LongAdder;

/**
 * What this node's HA manager did while it led: VMs it placed on a survivor, and the rounds of
 * fence methods it ran by their outcome. Counted where {@code HaManager} records them in the store.
 */
public final class HaCounters {
    /** The outcomes a round of fence methods ends in, as the {@code outcome} label spells them. */
    static final FenceState[] OUTCOMES = {FenceState.FENCED, FenceState.WAITING_FOR_ACK, FenceState.FAILED};
    private final LongAdder failovers = new LongAdder();
    private final LongAdder[] fenceAttempts = new LongAdder[OUTCOMES.length];

    public HaCounters() {
        for (int i = 0; i < fenceAttempts.length; i++) {
            fenceAttempts[i] = new LongAdder();
        }
    }

    /** A VM of a dead node was placed on a survivor (a {@code RecoverVm} with a target, applied). */
    public void failedOver() {
        failovers.increment();
    }

    /** A round of fence methods ended so (anything but fenced or waiting for an ack counts as failed). */
    public void fenceAttempt(FenceState outcome) {
        int i = outcome == FenceState.FENCED ? 0 : outcome == FenceState.WAITING_FOR_ACK ? 1 : 2;
        fenceAttempts[i].increment();
    }

    public long failovers() {
        return failovers.sum();
    }

    public long fenceAttempts(FenceState outcome) {
        for (int i = 0; i < OUTCOMES.length; i++) {
            if (OUTCOMES[i] == outcome) {
                return fenceAttempts[i].sum();
            }
        }
        return 0;
    }

    static String label(FenceState state) {
        return state.name().toLowerCase(java.util.Locale.ROOT);
    }
}
