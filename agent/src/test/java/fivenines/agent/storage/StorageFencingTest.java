package fivenines.agent.storage;

import fivenines.block.export.FileExport;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;
import fivenines.block.volume.GuardedExport;
import fivenines.model.cluster.NodeState;
import fivenines.model.command.AddNode;
import fivenines.model.command.AttachLogicalVolume;
import fivenines.model.command.Command;
import fivenines.model.command.CreateCluster;
import fivenines.model.command.CreateLogicalVolume;
import fivenines.model.command.CreatePhysicalVolume;
import fivenines.model.command.CreateVolumeGroup;
import fivenines.model.command.SetNodeState;
import fivenines.model.state.ClusterState;
import fivenines.model.state.Result;
import fivenines.model.state.StateMachine;
import fivenines.model.storage.LogicalVolume;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Storage fencing as a block service sees it: the guard in front of a physical volume reads the
 * epoch from the applied state, as {@link VolumeService#epoch} does, and a node declared down is cut
 * off in the command that declares it.
 */
class StorageFencingTest {
    private final StateMachine machine = new StateMachine(new ClusterState());
    private long index;

    private void applied(Command command) {
        assertInstanceOf(Result.Applied.class, machine.apply(command, ++index), () -> "applied: " + command);
    }

    private long epoch(String volume) {
        return machine.state().volumes().volume(volume).map(LogicalVolume::epoch).orElse(-1L);
    }

    @Test
    void aWriteFromANodeDeclaredDownIsRefusedAtItsOldEpochAndChangesNothing(@TempDir Path dir) throws Exception {
        applied(new CreateCluster("blenke", "a".repeat(64), "node0", "127.0.0.1:7600", "127.0.0.1:7601", 5));
        applied(new AddNode("node1", "127.0.0.1:7610", "127.0.0.1:7611", false));
        applied(new AddNode("node2", "127.0.0.1:7620", "127.0.0.1:7621", false));
        applied(new CreatePhysicalVolume("1b4c2f1e-8a9d-4c3b-9e2f-1a2b3c4d5e6f", "node2", "/pv", 64L << 20, 4L << 20,
            "127.0.0.1:7622", "/run/n2.sock"));
        applied(new CreateVolumeGroup("vg", List.of("node2:/pv")));
        applied(new CreateLogicalVolume("vg", "web", 8L << 20, null, false));
        applied(new AttachLogicalVolume("vg", "web", "node1", false, false));
        long before = epoch("vg/web");

        Path file = dir.resolve("pv");
        Files.write(file, new byte[1 << 20]);
        var physical = FileExport.wholeFile("pv", file, false);
        // the export node1's engine opened, named with the epoch of its attachment
        var guarded = new GuardedExport(physical, "vg/web", before, this::epoch);
        guarded.write(0, ByteBuffer.wrap(filled((byte) 1)), true);

        applied(new SetNodeState("node1", NodeState.DOWN));

        assertTrue(epoch("vg/web") > before, "declaring node1 down moved the epoch");
        var refused = assertThrows(NbdErrorException.class, () -> guarded.write(0, ByteBuffer.wrap(filled((byte) 2)), true));
        assertEquals(NbdProtocol.ESHUTDOWN, refused.errno());
        assertTrue(refused.getMessage().contains("cut off"), refused.getMessage());
        assertThrows(NbdErrorException.class, guarded::flush);
        byte[] onDisk = Arrays.copyOf(Files.readAllBytes(file), 4096);
        assertArrayEquals(filled((byte) 1), onDisk, "the refused write left the disk as the last accepted one");
        physical.close();
    }

    private static byte[] filled(byte value) {
        byte[] bytes = new byte[4096];
        Arrays.fill(bytes, value);
        return bytes;
    }
}
