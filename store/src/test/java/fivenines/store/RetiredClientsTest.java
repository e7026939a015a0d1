package fivenines.store;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class RetiredClientsTest {
    private Instant now = Instant.parse("2026-12-02T06:00:00Z");
    private final InstantSource clock = () -> now;
    private final List<String> closed = new ArrayList<>();
    private final RetiredClients<String> clients =
        new RetiredClients<>(Duration.ofSeconds(10), Duration.ofMinutes(10), clock, closed::add);

    @Test
    void anIdleRetiredClientIsClosedOnceItsGraceTimePassed() {
        clients.retire("a");
        clients.closeDue(false);
        assertEquals(List.of(), closed);
        now = now.plusSeconds(10);
        clients.closeDue(false);
        assertEquals(List.of("a"), closed);
        assertEquals(0, clients.waiting());
    }

    @Test
    void aRetiredClientIsNotClosedUnderARequestThatOutlivedItsCallersWait() {
        // the CI failure: a read's caller gave up, Ratis went on retrying it, the client was closed under the
        // retry after the grace time, and Ratis logged "client ... is already CLOSED" as an error
        var retrying = clients.track("a", new CompletableFuture<String>());
        clients.retire("a");
        now = now.plusSeconds(30);
        clients.closeDue(false);
        assertEquals(List.of(), closed, "closed with a request still in flight on it");
        assertEquals(1, clients.open("a"));
        retrying.complete("gave up");
        assertEquals(List.of(), closed, "closed on the thread that completed its request");
        clients.closeDue(false);
        assertEquals(List.of("a"), closed, "once its request ended, a client that is due is closed");
    }

    @Test
    void aRequestEndingBeforeTheGraceTimeLeavesTheClientToItsTime() {
        var request = clients.track("a", new CompletableFuture<String>());
        clients.retire("a");
        request.completeExceptionally(new RuntimeException("refused"));
        assertEquals(List.of(), closed);
        now = now.plusSeconds(10);
        clients.closeDue(false);
        assertEquals(List.of("a"), closed);
    }

    @Test
    void aClientWhoseRequestNeverEndsIsClosedAtTheHardLimit() {
        clients.track("a", new CompletableFuture<String>());
        clients.retire("a");
        now = now.plus(Duration.ofMinutes(9));
        clients.closeDue(false);
        assertEquals(List.of(), closed);
        now = now.plus(Duration.ofMinutes(1));
        clients.closeDue(false);
        assertEquals(List.of("a"), closed);
    }

    @Test
    void closingTheReplicaClosesEveryRetiredClientAtOnce() {
        clients.track("a", new CompletableFuture<String>());
        clients.retire("a");
        clients.retire("b");
        clients.closeDue(true);
        assertEquals(List.of("a", "b"), closed);
    }

    @Test
    void aCurrentClientIsNeverClosedByItsRequestsEnding() {
        clients.track("current", CompletableFuture.completedFuture("ok"));
        now = now.plus(Duration.ofHours(1));
        clients.closeDue(false);
        assertEquals(List.of(), closed);
        assertEquals(0, clients.open("current"));
    }

    @Test
    void aHardLimitShorterThanTheGraceTimeIsRefused() {
        assertThrows(IllegalArgumentException.class,
            () -> new RetiredClients<String>(Duration.ofSeconds(10), Duration.ofSeconds(5), clock, closed::add));
    }

    @Test
    @org.junit.jupiter.api.Timeout(30)
    void aClosingReplicaWaitsForTheRequestsInFlightToEndAndNoLonger() throws Exception {
        var request = clients.track("a", new CompletableFuture<String>());
        var answer = new Thread(() -> {
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                return;
            }
            request.complete("ok");
        });
        answer.start();
        clients.awaitIdle(Instant.now().plus(Duration.ofMinutes(5)));
        assertEquals(0, clients.open("a"), "returned once the request ended, long before the deadline");
        clients.track("b", new CompletableFuture<String>());
        clients.awaitIdle(Instant.now().minusSeconds(1));
        assertEquals(1, clients.open("b"), "a deadline that passed does not wait");
    }
}
