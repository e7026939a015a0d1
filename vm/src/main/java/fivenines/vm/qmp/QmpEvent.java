package fivenines.vm.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;

/**
 * An asynchronous QMP event, such as {@code STOP}, {@code RESUME}, {@code SHUTDOWN},
 * {@code BLOCK_IO_ERROR}, {@code MIGRATION} or {@code MIGRATION_PASS}.
 *
 * @param vmName the VM whose QEMU sent it
 * @param name the event name as QEMU spells it
 * @param data the event's data object (an empty object when it has none)
 * @param timestamp when QEMU says it happened
 */
public record QmpEvent(String vmName, String name, JsonNode data, Instant timestamp) {
}
