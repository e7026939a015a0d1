package fivenines.block.volume;

import fivenines.block.export.BlockExport;
import fivenines.block.export.Extent;
import fivenines.block.nbd.NbdErrorException;
import fivenines.block.nbd.NbdProtocol;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A physical volume as one attachment of a logical volume may use it: every request first
 * checks that the volume's epoch is still the one the attachment was given, and is refused
 * with ESHUTDOWN otherwise (DESIGN.md invariant 2). Block services serve these to remote volume
 * engines under {@link #exportName}; a local engine uses one directly.
 */
public final class GuardedExport implements BlockExport {
    private final BlockExport physicalVolume;
    private final String name;
    private final String volume;
    private final long epoch;
    private final EpochSource epochs;

    public GuardedExport(BlockExport physicalVolume, String volume, long epoch, EpochSource epochs) {
        this.physicalVolume = physicalVolume;
        this.volume = volume;
        this.epoch = epoch;
        this.epochs = epochs;
        this.name = exportName(physicalVolume.name(), volume, epoch);
    }

    /** {@code pv-ID@VG/LV#EPOCH}: the PV export, for a volume, at an epoch. */
    public static String exportName(String physicalVolumeExport, String volume, long epoch) {
        return physicalVolumeExport + "@" + volume + "#" + epoch;
    }

    /** The parts of a guarded export name, or null when {@code name} is not one. */
    public static Parsed parse(String name) {
        int at = name.indexOf('@');
        int hash = name.lastIndexOf('#');
        if (at <= 0 || hash < at + 2 || hash == name.length() - 1) {
            return null;
        }
        try {
            long epoch = Long.parseLong(name.substring(hash + 1));
            return epoch < 0 ? null : new Parsed(name.substring(0, at), name.substring(at + 1, hash), epoch);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** A guarded export name taken apart. */
    public record Parsed(String physicalVolumeExport, String volume, long epoch) {
    }

    private void check() throws NbdErrorException {
        long current = epochs.epoch(volume);
        if (current != epoch) {
            throw new NbdErrorException(NbdProtocol.ESHUTDOWN, current < 0
                ? "logical volume " + volume + " no longer exists"
                : "logical volume " + volume + " is at epoch " + current + "; this writer (epoch " + epoch
                    + ") was cut off by a newer attachment");
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String description() {
        return physicalVolume.description() + " for " + volume + " at epoch " + epoch;
    }

    @Override
    public long size() {
        return physicalVolume.size();
    }

    @Override
    public boolean readOnly() {
        return physicalVolume.readOnly();
    }

    @Override
    public void read(long offset, ByteBuffer target) throws IOException {
        check();
        physicalVolume.read(offset, target);
    }

    @Override
    public void write(long offset, ByteBuffer source, boolean fua) throws IOException {
        check();
        physicalVolume.write(offset, source, fua);
    }

    @Override
    public void flush() throws IOException {
        check();
        physicalVolume.flush();
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        check();
        physicalVolume.trim(offset, length);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        check();
        physicalVolume.writeZeroes(offset, length, noHole, fua);
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        check();
        return physicalVolume.blockStatus(offset, length);
    }

    @Override
    public boolean servesFromMemory() {
        return physicalVolume.servesFromMemory();
    }

    @Override
    public boolean fastZero() {
        return physicalVolume.fastZero();
    }
}
