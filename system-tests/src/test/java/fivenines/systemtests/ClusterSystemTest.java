package fivenines.systemtests;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/** A system test that forms a cluster of real agents in a folder of its own and kills them afterwards. */
abstract class ClusterSystemTest {
    @TempDir
    Path dir;
    TestCluster cluster;

    @AfterEach
    void stopCluster() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }
}
