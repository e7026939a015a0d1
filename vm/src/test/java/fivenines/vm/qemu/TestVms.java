package fivenines.vm.qemu;

import fivenines.testsupport.guest.TestGuest;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;

/** VM specs for the test guest. */
public final class TestVms {
    public static final int MEMORY_MIB = 256;

    private TestVms() {
    }

    public static VmSpec guest(String name, String commandLine, List<DiskSpec> disks) throws IOException, InterruptedException {
        TestGuest guest = TestGuest.build();
        return new VmSpec(name, MEMORY_MIB, 1, new Boot.Kernel(guest.kernel(), guest.initrd(), commandLine), disks, List.of());
    }

    /** The test guest running the write workload on a raw file. */
    public static VmSpec writeWorkload(String name, Path disk) throws IOException, InterruptedException {
        return guest(name, TestGuest.writeWorkloadCommandLine(),
                List.of(DiskSpec.of(new DiskSource.File(disk, ImageFormat.RAW))));
    }

    /** A sparse raw file of the given size. */
    public static Path rawDisk(Path file, long bytes) throws IOException {
        try (var raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(bytes);
        }
        return file;
    }
}
