package fivenines.block.volume;

/** The current epoch of each logical volume, as the local replica of the store has it. */
@FunctionalInterface
public interface EpochSource {

    /** The volume's epoch, or -1 when there is no such volume. */
    long epoch(String volume);
}
