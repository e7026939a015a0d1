package fivenines.agent.console;

import java.security.MessageDigest;
import java.security.SecureRandom;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Base64;
import java.util.Comparator;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The web console's sessions, kept in memory on the agent that signed the browser in: a random
 * 256-bit id (the cookie), a random 256-bit CSRF token, and an expiry that moves with use up to
 * a longest lifetime. An agent's restart signs every browser out.
 */
public final class ConsoleSessions {
    /** A session unused for this long ends. */
    public static final Duration IDLE = Duration.ofMinutes(30);
    /** No session lasts longer than this, used or not. */
    public static final Duration LONGEST = Duration.ofHours(12);
    /** Beyond this many sessions the least recently used ends (a flood of sign-ins cannot fill memory). */
    static final int MAX_SESSIONS = 1024;

    private final InstantSource clock;
    private final Duration idle;
    private final Duration longest;
    private final SecureRandom random;
    private final Map<String, Session> sessions = new ConcurrentHashMap<>();

    /** One signed-in browser. */
    public record Session(String id, String csrfToken, Instant created, Instant lastUsed) {
        Session used(Instant now) {
            return new Session(id, csrfToken, created, now);
        }
    }

    public ConsoleSessions() {
        this(InstantSource.system(), IDLE, LONGEST, new SecureRandom());
    }

    public ConsoleSessions(InstantSource clock, Duration idle, Duration longest, SecureRandom random) {
        this.clock = clock;
        this.idle = idle;
        this.longest = longest;
        this.random = random;
    }

    /** A new session, for a browser that has just shown the cluster token. */
    public Session open() {
        Instant now = clock.instant();
        sessions.values().removeIf(s -> expired(s, now));
        while (sessions.size() >= MAX_SESSIONS) {
            sessions.values().stream().min(Comparator.comparing(Session::lastUsed))
                .ifPresent(oldest -> sessions.remove(oldest.id()));
        }
        var session = new Session(randomToken(), randomToken(), now, now);
        sessions.put(session.id(), session);
        return session;
    }

    /** The live session with this id, its expiry moved on; empty when there is none or it has expired (then it is gone). */
    public Optional<Session> find(String id) {
        if (id == null) {
            return Optional.empty();
        }
        Instant now = clock.instant();
        Session found = sessions.get(id);
        if (found == null) {
            return Optional.empty();
        }
        if (expired(found, now)) {
            sessions.remove(id, found);
            return Optional.empty();
        }
        Session used = found.used(now);
        sessions.replace(id, found, used);
        return Optional.of(used);
    }

    /** Ends a session (sign-out). */
    public void close(String id) {
        if (id != null) {
            sessions.remove(id);
        }
    }

    /** Whether a request's CSRF header is this session's token (compared in constant time). */
    public static boolean csrfMatches(Session session, String presented) {
        if (presented == null || presented.isEmpty()) {
            return false;
        }
        return MessageDigest.isEqual(session.csrfToken().getBytes(StandardCharsets.US_ASCII),
            presented.getBytes(StandardCharsets.US_ASCII));
    }

    /** When the session ends if it is not used again. */
    public Instant expiresAt(Session session) {
        Instant byIdle = session.lastUsed().plus(idle);
        Instant byAge = session.created().plus(longest);
        return byIdle.isBefore(byAge) ? byIdle : byAge;
    }

    int size() {
        return sessions.size();
    }

    private boolean expired(Session session, Instant now) {
        return !now.isBefore(expiresAt(session));
    }

    private String randomToken() {
        byte[] bytes = new byte[32];
        random.nextBytes(bytes);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }
}
