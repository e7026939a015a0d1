package fivenines.agent.console;

import org.junit.jupiter.api.Test;

import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.HashSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConsoleSessionsTest {
    /** A clock the test moves by hand. */
    private static final class Hand implements InstantSource {
        Instant now = Instant.parse("2026-12-02T10:00:00Z");

        @Override
        public Instant instant() {
            return now;
        }

        void advance(Duration by) {
            now = now.plus(by);
        }
    }

    private final Hand clock = new Hand();
    private final ConsoleSessions sessions = new ConsoleSessions(clock, Duration.ofMinutes(30), Duration.ofHours(12), new SecureRandom());

    @Test
    void aSessionHasA256BitIdAndCsrfTokenThatDifferAndAreNewEachTime() {
        var ids = new HashSet<String>();
        for (int i = 0; i < 100; i++) {
            var session = sessions.open();
            assertEquals(43, session.id().length(), "32 bytes in unpadded base64url");
            assertEquals(43, session.csrfToken().length());
            assertNotEquals(session.id(), session.csrfToken());
            assertTrue(ids.add(session.id()));
        }
    }

    @Test
    void aSessionUnusedForTheIdleTimeEndsAndIsForgotten() {
        var session = sessions.open();
        clock.advance(Duration.ofMinutes(29));
        assertTrue(sessions.find(session.id()).isPresent(), "used within the idle time");
        clock.advance(Duration.ofMinutes(29));
        assertTrue(sessions.find(session.id()).isPresent(), "each use moves the expiry on");
        clock.advance(Duration.ofMinutes(30));
        assertTrue(sessions.find(session.id()).isEmpty(), "idle for 30 minutes: ended");
        assertEquals(0, sessions.size());
    }

    @Test
    void aSessionInUseAllTheTimeStillEndsAtItsLongestLifetime() {
        var session = sessions.open();
        for (int i = 0; i < 12 * 4 - 1; i++) {
            clock.advance(Duration.ofMinutes(15));
            assertTrue(sessions.find(session.id()).isPresent(), "after " + (i + 1) * 15 + " minutes");
        }
        assertEquals(clock.now.plus(Duration.ofMinutes(15)), sessions.expiresAt(sessions.find(session.id()).orElseThrow()));
        clock.advance(Duration.ofMinutes(15));
        assertTrue(sessions.find(session.id()).isEmpty(), "12 hours after sign-in");
    }

    @Test
    void anUnknownOrMissingOrClosedSessionIsNotFound() {
        var session = sessions.open();
        assertTrue(sessions.find(null).isEmpty());
        assertTrue(sessions.find("").isEmpty());
        assertTrue(sessions.find(session.csrfToken()).isEmpty(), "the CSRF token is no session id");
        sessions.close(session.id());
        assertTrue(sessions.find(session.id()).isEmpty());
    }

    @Test
    void theCsrfCheckTakesOnlyTheSessionsOwnToken() {
        var session = sessions.open();
        var other = sessions.open();
        assertTrue(ConsoleSessions.csrfMatches(session, session.csrfToken()));
        assertFalse(ConsoleSessions.csrfMatches(session, null), "missing");
        assertFalse(ConsoleSessions.csrfMatches(session, ""), "empty");
        assertFalse(ConsoleSessions.csrfMatches(session, other.csrfToken()), "another session's");
        assertFalse(ConsoleSessions.csrfMatches(session, session.id()), "the session id itself");
        assertFalse(ConsoleSessions.csrfMatches(session, session.csrfToken().substring(1)), "a part of it");
    }

    @Test
    void expiredSessionsAreDroppedAtTheNextSignInAndTheTableIsBounded() {
        for (int i = 0; i < 10; i++) {
            sessions.open();
        }
        clock.advance(Duration.ofHours(1));
        sessions.open();
        assertEquals(1, sessions.size(), "the ten idle ones are gone");
        for (int i = 0; i < ConsoleSessions.MAX_SESSIONS + 10; i++) {
            sessions.open();
        }
        assertEquals(ConsoleSessions.MAX_SESSIONS, sessions.size());
    }
}
