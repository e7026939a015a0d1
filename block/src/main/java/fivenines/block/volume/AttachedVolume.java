package fivenines.block.volume;

import fivenines.block.export.BlockExport;
import fivenines.model.storage.VolumeView;

import java.io.IOException;

/** A volume attached on this node and served by its engine: one leg ({@link VolumeEngine}) or a mirror ({@link MirrorEngine}). */
public interface AttachedVolume extends BlockExport, AutoCloseable {

    /** The epoch the engine writes at. */
    long epoch();

    /** Takes a newer state of the volume from the store (its epoch moved, or another writer committed). */
    void refresh(VolumeView view) throws IOException;

    /** Quiesces writes, puts what was written on every leg, runs {@code action} with the epoch, then reloads the map. */
    <T> T quiesced(VolumeEngine.EpochAction<T> action) throws IOException;

    /** Puts what was written on stable storage and in the store, and closes the engine's connections. */
    @Override
    void close() throws IOException;

    /** Closes without committing: the attachment is gone or was taken over. */
    void abandon(String reason);

    /** Long work the engine does in the background (a resync, a repair), or null when there is none. */
    default Progress progress() {
        return null;
    }

    /** How far background work has come. */
    record Progress(String what, long bytesDone, long bytesLeft, double bytesPerSecond) {
        /** Seconds left at the current rate, or -1 when unknown. */
        public long etaSeconds() {
            return bytesPerSecond <= 0 ? -1 : (long) Math.ceil(bytesLeft / bytesPerSecond);
        }
    }
}
