package fivenines.model.vm;

import fivenines.model.ha.HaStatus;

/**
 * A VM in the store: its definition, what the operator wants, where it is placed, and what
 * the node running it last reported.
 *
 * @param desired    what the operator wants
 * @param node       where it runs or is to run; null while stopped and never started
 * @param migratingTo the destination of a live migration in progress, or null
 * @param phase      as its node last reported
 * @param detail     why it is in that phase (e.g. "io-error: ENOSPC on vg/lv"), or null
 * @param generation bumped at every change of desired state or placement
 * @param ha         the HA manager's view of it when HA is on, or null
 */
public record VmRecord(VmDefinition definition, DesiredState desired, String node, String migratingTo, GuestState phase,
                       String detail, long generation, long createdAt, HaStatus ha) {

    public VmRecord(VmDefinition definition, DesiredState desired, String node, String migratingTo, GuestState phase,
                    String detail, long generation, long createdAt) {
        this(definition, desired, node, migratingTo, phase, detail, generation, createdAt, null);
    }

    public String name() {
        return definition.name();
    }

    VmRecord withDesired(DesiredState newDesired, String newNode) {
        return new VmRecord(definition, newDesired, newNode, migratingTo, phase, detail, generation + 1, createdAt, ha);
    }

    VmRecord withMigration(String destination) {
        return new VmRecord(definition, desired, node, destination, phase, detail, generation + 1, createdAt, ha);
    }

    VmRecord withStatus(GuestState newPhase, String newDetail) {
        return new VmRecord(definition, desired, node, migratingTo, newPhase, newDetail, generation, createdAt, ha);
    }

    VmRecord withDefinition(VmDefinition newDefinition) {
        return new VmRecord(newDefinition, desired, node, migratingTo, phase, detail, generation + 1, createdAt, ha);
    }

    VmRecord withHa(HaStatus newHa) {
        return new VmRecord(definition, desired, node, migratingTo, phase, detail, generation, createdAt, newHa);
    }

    /** Placed on {@code newNode} by the HA manager: a new generation, starting there. */
    VmRecord recoveredTo(String newNode, HaStatus newHa) {
        return new VmRecord(definition, desired, newNode, null, GuestState.STARTING, "recovered from " + node, generation + 1,
            createdAt, newHa);
    }
}
