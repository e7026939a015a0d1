package fivenines.model.config;

import fivenines.model.command.ChangeConfig;
import fivenines.model.state.Rejection;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The keys the cluster reads are checked when set: a value it could not use is refused and changes nothing. */
class SettingsTest {
    private static Configuration withValues(Map<String, String> values) {
        var config = new Configuration();
        if (!values.isEmpty()) {
            config.apply(new ChangeConfig(values, List.of(), null));
        }
        return config;
    }

    private static void refused(Configuration config, ChangeConfig change, String... words) {
        var before = config.snapshot();
        Rejection wrong = assertThrows(Rejection.class, () -> config.apply(change));
        assertEquals(Rejection.Reason.INVALID, wrong.reason());
        for (String word : words) {
            assertTrue(wrong.getMessage().contains(word), wrong.getMessage());
        }
        assertEquals(before, config.snapshot(), "a refused change changes nothing, not even the version");
    }

    @Test
    void aValueTheAgentsCouldNotUseIsRefusedWithWhatIsAccepted() {
        var config = withValues(Map.of());
        refused(config, ChangeConfig.set("cluster.dead_after_seconds", "soon"), "cluster.dead_after_seconds", "'soon'",
            "not a number");
        refused(config, ChangeConfig.set("cluster.dead_after_seconds", "0"), "1 to 3600 seconds");
        refused(config, ChangeConfig.set("cluster.dead_after_seconds", "NaN"), "not a number");
        refused(config, ChangeConfig.set("ha.lease_millis", "3.5s"), "ha.lease_millis", "not a whole number");
        refused(config, ChangeConfig.set("ha.max_relocate", "-1"), "ha.max_relocate", "0 to");
        refused(config, ChangeConfig.set("aoe.timeout_ms", "100"), "aoe.timeout_ms", "500 to");
        refused(config, ChangeConfig.set("ha.clock_rate_margin", "2"), "ha.clock_rate_margin");
        refused(config, ChangeConfig.set("volume.leg_timeout_ms", "2s"), "volume.leg_timeout_ms", "not a whole number");
        refused(config, ChangeConfig.set("volume.resync_mib_per_s", "-5"), "0 to");
        refused(config, ChangeConfig.set("cluster.token_grace_seconds", "forever"), "cluster.token_grace_seconds");
        // each value alone is a number, but together a node would stop its guests between two renewals
        refused(config, new ChangeConfig(Map.of("ha.lease_millis", "2000", "ha.renew_millis", "1500"), List.of(), null),
            "ha.renew_millis (1500) must be below");
        assertEquals(0, config.version());
    }

    @Test
    void changingOneLeaseKeyIsCheckedAgainstTheOthersAlreadySet() {
        var config = withValues(Map.of("ha.lease_millis", "6000", "ha.renew_millis", "3000"));
        // unsetting the lease brings back the default length (3.5 s at the default limit): 2.5 s of serving, below 3 s renewals
        refused(config, ChangeConfig.unset("ha.lease_millis"), "ha.renew_millis (3000) must be below");
        refused(config, ChangeConfig.set("ha.stop_ahead_millis", "3500"), "ha.renew_millis (3000)");
        config.apply(ChangeConfig.set("ha.stop_ahead_millis", "2000"));
        assertEquals(Optional.of("2000"), config.get("ha.stop_ahead_millis"));
    }

    @Test
    void goodValuesAndTheOperatorsOwnKeysAreStoredAsGiven() {
        var config = withValues(Map.of("cluster.dead_after_seconds", "2.5", "ha.max_relocate", "4", "aoe.timeout_ms", "20000",
            "site.owner", "soon"));
        assertEquals(Optional.of("2.5"), config.get("cluster.dead_after_seconds"));
        assertEquals(Duration.ofMillis(2500), Settings.deadAfter(config::get));
        assertEquals(Optional.of("soon"), config.get("site.owner"), "keys the cluster does not read are not judged");
    }

    @Test
    void theDefaultLimitIsThreeSecondsAndTheLeaseFollowsItWithItsFloor() {
        assertEquals(Duration.ofSeconds(3), Settings.deadAfter(key -> Optional.empty()));
        assertEquals(Duration.ofMillis(3500), LeaseSettings.from(key -> Optional.empty()).length());
        assertEquals(Duration.ofMillis(9090), LeaseSettings.from(key -> Optional.ofNullable(
            Map.of("cluster.dead_after_seconds", "10").get(key))).length());
    }
}
