package fivenines.agent.cluster;

import fivenines.agent.Credentials;
import fivenines.model.cluster.Membership.SecretRotation;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SecretRotationsTest {

    private static SecretRotation rotation(String before, String after, long index) {
        return new SecretRotation(Credentials.sha256(before), Credentials.sha256(after), SecretRotations.seal(before, after), index);
    }

    @Test
    void aNodeAwayThroughSeveralRotationsOpensThemInTurn() {
        String s0 = Credentials.newSecret();
        String s1 = Credentials.newSecret();
        String s2 = Credentials.newSecret();
        String s3 = Credentials.newSecret();
        var rotations = List.of(rotation(s0, s1, 10), rotation(s1, s2, 20), rotation(s2, s3, 30));
        String current = Credentials.sha256(s3);
        assertEquals(Optional.of(s3), SecretRotations.follow(s0, current, rotations));
        assertEquals(Optional.of(s3), SecretRotations.follow(s2, current, rotations));
        assertEquals(Optional.empty(), SecretRotations.follow(s3, current, rotations), "current already");
        // a state still replaying, older than this node's secret, leads nowhere from it: refused, not followed back
        assertThrows(IllegalStateException.class, () -> SecretRotations.follow(s3, Credentials.sha256(s1), rotations.subList(0, 1)));
    }

    @Test
    void theSealedSecretOpensOnlyWithTheSecretBeforeItAndNotWhenTampered() {
        String s0 = Credentials.newSecret();
        String s1 = Credentials.newSecret();
        var sealed = rotation(s0, s1, 7);
        assertFalse(sealed.sealed().contains(s1), "the store never holds the secret in the clear");
        assertEquals(s1, SecretRotations.open(s0, sealed));
        var wrongKey = assertThrows(IllegalStateException.class, () -> SecretRotations.open(Credentials.newSecret(), sealed));
        assertTrue(wrongKey.getMessage().contains("index 7"), wrongKey.getMessage());
        // the digests are bound in: the same box under another claimed secret does not open
        var relabelled = new SecretRotation(sealed.previousSha256(), Credentials.sha256(Credentials.newSecret()), sealed.sealed(), 7);
        assertThrows(IllegalStateException.class, () -> SecretRotations.open(s0, relabelled));
        char[] box = sealed.sealed().toCharArray();
        box[box.length / 2] = box[box.length / 2] == 'A' ? 'B' : 'A';
        assertThrows(IllegalStateException.class, () -> SecretRotations.open(s0, new SecretRotation(sealed.previousSha256(),
            sealed.secretSha256(), new String(box), 7)));
    }

    @Test
    void aSecretNoneOfTheKeptRotationsStartsFromIsRefusedWithWhatToDo() {
        String s0 = Credentials.newSecret();
        String s1 = Credentials.newSecret();
        var rotations = new ArrayList<>(List.of(rotation(s0, s1, 3)));
        var refused = assertThrows(IllegalStateException.class,
            () -> SecretRotations.follow(Credentials.newSecret(), Credentials.sha256(s1), rotations));
        assertTrue(refused.getMessage().contains("join again"), refused.getMessage());
    }
}
