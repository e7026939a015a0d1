package fivenines.agent.cluster;

import fivenines.model.codec.Json;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/** Which cluster this node belongs to: kept in {@code DATA/cluster.json} so a restart recovers it. */
public record ClusterIdentity(String clusterName, String groupId) {

    static Path file(Path dataDir) {
        return dataDir.resolve("cluster.json");
    }

    static Optional<ClusterIdentity> load(Path dataDir) {
        Path file = file(dataDir);
        if (!Files.exists(file)) {
            return Optional.empty();
        }
        try {
            return Optional.of(Json.read(Files.readAllBytes(file), ClusterIdentity.class));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    void save(Path dataDir) {
        Path file = file(dataDir);
        try {
            Path temporary = file.resolveSibling("cluster.json.tmp");
            Files.write(temporary, Json.bytes(this));
            Files.move(temporary, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    static void forget(Path dataDir) {
        try {
            Files.deleteIfExists(file(dataDir));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + file(dataDir), e);
        }
    }
}
