package fivenines.agent;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AgentPortTest {
    private static AgentConfig config(int apiPort, int raftPort, int nbdPort) {
        return new AgentConfig("d", Path.of("/nonexistent"), "127.0.0.1", apiPort, raftPort, nbdPort, "127.0.0.1");
    }

    @Test
    void aTakenPortIsNamedWithItsUseAndTheWayOut() {
        var error = AgentPort.raft(config(18600, 18601, 18602)).unavailable(new BindException("Address already in use"));
        assertEquals("port 18601 (the store's Raft port, API port + 1) on 127.0.0.1 is in use by another process; "
            + "choose another --listen port or stop the process that has it (ss -ltnp 'sport = :18601' shows which)", error.getMessage());
    }

    @Test
    void aPortGivenOnItsOwnNamesItsOption() {
        var error = AgentPort.nbd(config(18600, 18601, 9000)).unavailable(new BindException("Address already in use"));
        assertTrue(error.getMessage().startsWith("port 9000 (the block service's NBD port, --nbd-port) on 127.0.0.1 is in use"),
            error.getMessage());
        assertTrue(error.getMessage().contains("choose another --nbd-port or stop"), error.getMessage());
    }

    @Test
    void nettysBindFailureIsRecognisedThroughItsCauses() {
        // gRPC wraps Netty's epoll error, which is an IOException and not a BindException
        var netty = new IOException("bind(..) failed: Address already in use");
        var wrapped = new RuntimeException("Failed to start Grpc server", new IOException("Failed to bind to address /127.0.0.1:18601", netty));
        assertTrue(AgentPort.isBindFailure(wrapped));
        assertTrue(AgentPort.api(config(18600, 18601, 18602)).unavailableNow(wrapped).getMessage()
            .contains("is in use by another process; stop the process that has it"));
        assertFalse(AgentPort.isBindFailure(new IOException("disk full")));
    }

    @Test
    void anAddressThatCannotBeBoundSaysWhy() {
        var error = AgentPort.api(config(18600, 18601, 18602)).unavailable(new BindException("Cannot assign requested address"));
        assertTrue(error.getMessage().contains("cannot be listened on (Cannot assign requested address)"), error.getMessage());
    }

    @Test
    void theCheckFindsATakenPortBeforeAnythingElse() throws IOException {
        try (var taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            int api = taken.getLocalPort() - 1;
            var error = assertThrows(PortUnavailableException.class, () -> AgentPort.requireFree(config(api, api + 1, api + 2)));
            assertEquals(api + 1, error.port().port());
        }
    }

    @Test
    void onePortForTwoUsesIsRefused() {
        var error = assertThrows(PortUnavailableException.class, () -> AgentPort.requireFree(config(18600, 18600, 18602)));
        assertTrue(error.getMessage().contains("given both as the REST API port and as the store's Raft port"), error.getMessage());
    }

    @Test
    void everyPortOfTheAgentIsChecked() {
        assertEquals(List.of(18600, 18601, 18602), AgentPort.all(config(18600, 18601, 18602)).stream().map(AgentPort::port).toList());
    }

    @Test
    void anEntryIsKeptOnlyForALiveAgent() {
        assertTrue(LocalAgents.liveAgent(42, pid -> Optional.of("/usr/bin/java -jar /opt/nines/cli/target/nines.jar agent")).isPresent());
        assertTrue(LocalAgents.liveAgent(42, pid -> Optional.of("")).isPresent(), "a command line the system hides counts as an agent");
        assertTrue(LocalAgents.liveAgent(42, pid -> Optional.empty()).isEmpty(), "a dead agent's entry is replaced");
        assertTrue(LocalAgents.liveAgent(42, pid -> Optional.of("/bin/bash")).isEmpty(), "a stranger that reused the pid does not count");
    }
}
